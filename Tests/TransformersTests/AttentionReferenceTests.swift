import Foundation
import NeuralNet
import TensorCore
import Testing
import _TestSupport

@testable import Transformers

@Suite("Attention against a naive reference")
struct AttentionReferenceTests {
    /// The definition, in Double with plain loops: y = concat_h(softmax(q_h k_hᵀ/√d, padding keys excluded) v_h)·Woᵀ + bo.
    static func naive(_ att: MultiHeadSelfAttention, _ x: Tensor, mask: [Float], _ p: ParameterStore) -> Tensor {
        let (b, t, h, nh) = (x.shape[0], x.shape[1], att.hiddenSize, att.headCount)
        let d = h / nh
        func linear(_ dense: Dense, _ input: [Double], rows: Int) -> [Double] {
            let w = p.tensor(dense.weight).scalars, bias = p.tensor(dense.bias!).scalars
            var out = [Double](repeating: 0, count: rows * h)
            for r in 0..<rows {
                for o in 0..<h {
                    var s = Double(bias[o])
                    for i in 0..<h { s += Double(w[o * h + i]) * input[r * h + i] }
                    out[r * h + o] = s
                }
            }
            return out
        }
        let xs = x.scalars.map(Double.init)
        let q = linear(att.query, xs, rows: b * t), k = linear(att.key, xs, rows: b * t), v = linear(att.value, xs, rows: b * t)
        var ctx = [Double](repeating: 0, count: b * t * h)
        for s in 0..<b {
            for head in 0..<nh {
                for i in 0..<t {
                    var scores = [Double](repeating: -.infinity, count: t)
                    for j in 0..<t where mask[s * t + j] != 0 {
                        var dot = 0.0
                        for c in 0..<d { dot += q[(s * t + i) * h + head * d + c] * k[(s * t + j) * h + head * d + c] }
                        scores[j] = dot / Double(d).squareRoot()
                    }
                    let m = scores.max()!
                    let e = scores.map { $0 == -.infinity ? 0 : ($0 - m).exp() }
                    let z = e.reduce(0, +)
                    for j in 0..<t {
                        for c in 0..<d {
                            ctx[(s * t + i) * h + head * d + c] += e[j] / z * v[(s * t + j) * h + head * d + c]
                        }
                    }
                }
            }
        }
        return Tensor(shape: x.shape, scalars: linear(att.output, ctx, rows: b * t).map(Float.init))
    }

    @Test(
        "BLAS attention equals the naive definition on random shapes and masks",
        arguments: [
            (1, 1, 4, 1), (2, 5, 6, 2), (3, 7, 12, 3), (2, 9, 8, 4),
        ])
    func matchesNaive(shape: (Int, Int, Int, Int)) {
        let (b, t, h, nh) = shape
        let p = ParameterStore(seed: UInt64(b * 100 + t))
        let att = MultiHeadSelfAttention("a", hiddenSize: h, headCount: nh, in: p, weightInit: .normal(std: 0.7))
        var rng = TestRandom(seed: UInt64(t))
        let x = rng.tensor([b, t, h])
        // Sequence s keeps its first max(1, t − s) tokens.
        var mask = [Float](repeating: 0, count: b * t)
        for s in 0..<b { for i in 0..<max(1, t - s) { mask[s * t + i] = 1 } }
        let y = att.forward(x, keyMask: mask, p).output
        let reference = Self.naive(att, x, mask: mask, p)
        #expect(relativeMaxError(y, reference) < 1e-5)
    }
}

extension Double {
    fileprivate func exp() -> Double { Foundation.exp(self) }
}
