import TensorCore
// Nearest upsampling and the fusion sum (MDEQ) against their reference twins; backward passes against finite
// differences of ⟨y, r⟩.
import Testing
import _TestSupport

private func upsample(_ x: Tensor, _ s: Int) -> Tensor {
    let (b, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    return Tensor(shape: [b, h * s, w * s, c]) { y in
        x.withUnsafeBufferPointer { UpsampleNearest.forward(batch: b, height: h, width: w, channels: c, factor: s, $0.baseAddress!, y.baseAddress!) }
    }
}

private func upsampleBackward(_ dy: Tensor, _ s: Int) -> Tensor {
    let (b, h, w, c) = (dy.shape[0], dy.shape[1] / s, dy.shape[2] / s, dy.shape[3])
    return Tensor(shape: [b, h, w, c]) { dx in
        dy.withUnsafeBufferPointer {
            UpsampleNearest.backward(batch: b, height: h, width: w, channels: c, factor: s, $0.baseAddress!, dx.baseAddress!)
        }
    }
}

private func fusion(_ parts: [Tensor], relu: Bool) -> Tensor { FusionSum.sum(parts, relu: relu) }

@Suite("Nearest upsampling and fusion sum")
struct ResampleTests {
    @Test(arguments: [1, 2, 4, 8])
    func upsampleMatchesReference(factor s: Int) {
        var rng = TestRandom(seed: UInt64(30 + s))
        for _ in 0..<4 {
            let x = rng.tensor([rng.int(1, 3), rng.int(1, 5), rng.int(1, 6), rng.int(1, 7)])
            #expect(upsample(x, s) == Reference.upsampleNearest(x, factor: s))
            let dy = rng.tensor([x.shape[0], x.shape[1] * s, x.shape[2] * s, x.shape[3]])
            #expect(relativeMaxError(upsampleBackward(dy, s), Reference.upsampleNearestBackward(dy, factor: s)) < 1e-6)
        }
    }

    /// The 2×2 case by hand: every output pixel copies its block's source, PyTorch's mode='nearest'.
    @Test func upsampleByHand() {
        let x = Tensor(shape: [1, 1, 2, 1], scalars: [1, 2])
        #expect(upsample(x, 2).scalars == [1, 1, 2, 2, 1, 1, 2, 2])
        #expect(upsampleBackward(Tensor(shape: [1, 2, 4, 1], scalars: [1, 2, 3, 4, 5, 6, 7, 8]), 2).scalars == [14, 22])
    }

    @Test(arguments: [2, 4])
    func upsampleBackwardPassesFiniteDifferences(factor s: Int) {
        var rng = TestRandom(seed: 40)
        let x = rng.tensor([2, 3, 2, 3]), r = rng.tensor([2, 3 * s, 2 * s, 3])
        let fd = finiteDifferenceGradient(x.scalars) { probe(upsample(Tensor(shape: x.shape, scalars: $0), s), r) }
        #expect(relativeNormError(upsampleBackward(r, s).scalars, fd) < 1e-3)
    }

    @Test(arguments: [false, true])
    func fusionSumMatchesReferenceAndFiniteDifferences(relu: Bool) {
        var rng = TestRandom(seed: relu ? 50 : 51)
        let parts = (0..<3).map { _ in rng.tensor([2, 5, 3, 4]) }
        let y = fusion(parts, relu: relu)
        #expect(relativeMaxError(y, Reference.fusionSum(parts, relu: relu)) < 1e-6)
        if relu { #expect(y.scalars.allSatisfy { $0 >= 0 } && y.scalars.contains(0)) }
        let r = rng.tensor(y.shape)
        let dx = FusionSum.sumBackward(r, output: y, relu: relu)
        for k in 0..<parts.count {
            let fd = finiteDifferenceGradient(parts[k].scalars, step: 1e-3) { v in
                var ps = parts; ps[k] = Tensor(shape: parts[k].shape, scalars: v)
                return probe(fusion(ps, relu: relu), r)
            }
            #expect(relativeNormError(dx.scalars, fd) < 1e-2)
        }
    }
}
