// The robust IRLS combiner against a direct double-precision reference, its gradients (full and detached) against
// central differences of that reference, and the behaviour the method is for.
import Foundation
import NeuralNet
import TensorCore
import Testing
import Transformers
import _TestSupport

@testable import RobustAttention

/// Random attention rows (softmax of random logits; the last `padding` keys of every row get weight 0, as padding).
func randomAttention(g: Int, t: Int, padding: Int = 0, _ r: inout TestRandom) -> Tensor {
    var a = [Float](repeating: 0, count: g * t * t)
    for row in 0..<(g * t) {
        var s: Float = 0
        for j in 0..<(t - padding) { let e = expf(2 * r.uniform()); a[row * t + j] = e; s += e }
        for j in 0..<(t - padding) { a[row * t + j] /= s }
    }
    return Tensor(shape: [g, t, t], scalars: a)
}

let penalties: [RobustPenalty] = [.l1, .huber(delta: 0.8), .mcp(gamma: 2.5), .huberMCP(delta: 0.6, gamma: 2.2)]

@Suite("Robust attention combiner")
struct RobustCombinerTests {
    @Test("forward matches the double-precision reference for every penalty, odd sizes and padding keys", arguments: penalties)
    func forwardMatchesReference(penalty: RobustPenalty) throws {
        var r = TestRandom(seed: 3)
        for (g, t, d, pad, k) in [(1, 1, 1, 0, 1), (3, 7, 5, 2, 3), (2, 13, 8, 0, 2), (4, 5, 3, 1, 4)] {
            let a = randomAttention(g: g, t: t, padding: pad, &r), v = r.tensor([g, t, d], -1.5, 1.5)
            let c = try RobustCombiner(penalty: penalty, steps: k, stepSize: 0.8)
            let out = c.forward(attention: a, values: v).output
            let ref = ReferenceRobust(penalty: penalty, steps: k, stepSize: 0.8)
                .forward(a: a.scalars.map(Double.init), v: v.scalars.map(Double.init), g: g, t: t, d: d).0
            #expect(relativeMaxError(out, Tensor(shape: [g, t, d], scalars: ref.map(Float.init))) < 2e-5, "g\(g) t\(t) d\(d)")
        }
    }

    @Test("K = 0 is plain attention; MCP with γ below every distance is plain attention too")
    func degenerateCases() throws {
        var r = TestRandom(seed: 5)
        let a = randomAttention(g: 2, t: 6, &r), v = r.tensor([2, 6, 4])
        let plain = WeightedSumCombiner().forward(attention: a, values: v).output
        #expect(relativeMaxError(try RobustCombiner(penalty: .mcp(gamma: 1), steps: 0).forward(attention: a, values: v).output, plain) < 1e-6)
        // γ = 1e-3: 1/(r + ε) − 1/γ < ε for every r ≥ 0 → every weight is ε → Â = A.
        let tiny = try RobustCombiner(penalty: .mcp(gamma: 1e-3), steps: 3).forward(attention: a, values: v).output
        #expect(relativeMaxError(tiny, plain) < 1e-5)
    }

    @Test("an outlying value token is down-weighted: the output moves toward the inliers")
    func outlierIsDownWeighted() throws {
        // One query, 5 keys with equal attention; 4 values near (1, 1), one at (20, −20).
        let t = 5
        let a = Tensor(shape: [1, t, t], scalars: [Float](repeating: 0.2, count: t * t))
        var vs: [Float] = []
        for j in 0..<t { vs += j == 4 ? [20, -20] : [1 + 0.05 * Float(j), 1 - 0.05 * Float(j)] }
        let v = Tensor(shape: [1, t, 2], scalars: vs)
        let plain = WeightedSumCombiner().forward(attention: a, values: v).output
        func distanceToInliers(_ o: Tensor) -> Float {
            ((o.scalars[0] - 1.075) * (o.scalars[0] - 1.075) + (o.scalars[1] - 0.925) * (o.scalars[1] - 0.925)).squareRoot()
        }
        // Plain attention sits ≈ 5.6 from the inliers and ≈ 21 from the outlier: γ must lie between the two, or
        // every weight is clamped to ε and the rule is plain attention (the calibration pitfall of the spec).
        for p in [RobustPenalty.l1, .huber(delta: 0.8), .mcp(gamma: 12), .huberMCP(delta: 3, gamma: 12)] {
            let robust = try RobustCombiner(penalty: p, steps: 3).forward(attention: a, values: v).output
            #expect(distanceToInliers(robust) < 0.5 * distanceToInliers(plain), "\(p): \(robust.scalars[0...1]) vs plain \(plain.scalars[0...1])")
        }
        // MCP with γ between the inlier distance and the outlier distance removes the outlier almost completely…
        let mcp = try RobustCombiner(penalty: .mcp(gamma: 12), steps: 3).forward(attention: a, values: v).output
        #expect(distanceToInliers(mcp) < 0.05)
        // …while γ below the inlier distance clamps every weight: plain attention.
        let clamped = try RobustCombiner(penalty: .mcp(gamma: 4), steps: 3).forward(attention: a, values: v).output
        #expect(relativeMaxError(clamped, plain) < 1e-5)
    }

    /// Probe loss L = ⟨O, R⟩; analytic (dA, dV) against central differences of the double reference.
    func gradientErrors(penalty: RobustPenalty, gradient: RobustCombiner.Gradient) throws -> (Double, Double) {
        var r = TestRandom(seed: 11)
        let (g, t, d, k) = (2, 6, 3, 3)
        let a = randomAttention(g: g, t: t, padding: 1, &r), v = r.tensor([g, t, d], -1.2, 1.2)
        let probeR = r.tensor([g, t, d])
        let c = try RobustCombiner(penalty: penalty, steps: k, stepSize: 0.9, gradient: gradient)
        let (_, cache) = c.forward(attention: a, values: v)
        let (da, dv) = c.backward(probeR, cache)
        let ref = ReferenceRobust(penalty: penalty, steps: k, stepSize: 0.9)
        let a0 = a.scalars.map(Double.init), v0 = v.scalars.map(Double.init), rr = probeR.scalars.map(Double.init)
        let frozen = gradient == .detached ? ref.forward(a: a0, v: v0, g: g, t: t, d: d).1 : nil
        func loss(_ a: [Double], _ v: [Double]) -> Double {
            zip(ref.forward(a: a, v: v, g: g, t: t, d: d, frozen: frozen).0, rr).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let h = 1e-5
        func fd(_ x: [Double], _ f: ([Double]) -> Double) -> [Float] {
            var w = x
            return (0..<x.count).map { i in
                let o = w[i]; w[i] = o + h; let lp = f(w); w[i] = o - h; let lm = f(w); w[i] = o
                return Float((lp - lm) / (2 * h))
            }
        }
        // Padding entries of A stay 0 in every perturbation that matters: perturbing them is still a valid check
        // (the rule is defined for any A ≥ 0), but only real keys are compared, as the model never moves the others.
        let fa = fd(a0) { loss($0, v0) }, fv = fd(v0) { loss(a0, $0) }
        var keepA: [Int] = []
        for i in 0..<(g * t * t) where a.scalars[i] > 0 { keepA.append(i) }
        return (relativeNormError(keepA.map { da.scalars[$0] }, keepA.map { fa[$0] }), relativeNormError(dv.scalars, fv))
    }

    @Test("full gradient through the reweighting matches finite differences", arguments: penalties)
    func fullGradient(penalty: RobustPenalty) throws {
        let (ea, ev) = try gradientErrors(penalty: penalty, gradient: .full)
        #expect(ea < 2e-3 && ev < 2e-3, "\(penalty): dA \(ea), dV \(ev)")
    }

    @Test("detached gradient matches finite differences with the weights frozen", arguments: penalties)
    func detachedGradient(penalty: RobustPenalty) throws {
        let (ea, ev) = try gradientErrors(penalty: penalty, gradient: .detached)
        #expect(ea < 2e-3 && ev < 2e-3, "\(penalty): dA \(ea), dV \(ev)")
    }

    @Test("invalid parameters are refused with the parameter named")
    func invalidParameters() {
        #expect(throws: RobustAttentionError.self) { try RobustCombiner(penalty: .huberMCP(delta: 2, gamma: 1)) }
        #expect(throws: RobustAttentionError.self) { try RobustCombiner(penalty: .huberMCP(delta: 1, gamma: 1)) }
        #expect(throws: RobustAttentionError.self) { try RobustCombiner(penalty: .mcp(gamma: 0)) }
        #expect(throws: RobustAttentionError.self) { try RobustCombiner(penalty: .huber(delta: .nan)) }
        #expect(throws: RobustAttentionError.self) { try RobustCombiner(penalty: .l1, steps: -1) }
        do { _ = try RobustCombiner(penalty: .huberMCP(delta: 2, gamma: 1)) } catch {
            #expect("\(error)".contains("γ > δ"))
        }
    }
}
