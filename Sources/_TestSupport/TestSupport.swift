import NeuralNet
// Helpers shared by the test targets: seeded random tensors, tolerance comparison, finite differences.
import TensorCore

/// A tiny deterministic generator for test data (the project's `SplitMix64`, started one step in); not the
/// project's noise generator.
public struct TestRandom: Sendable {
    private var generator: SplitMix64
    public init(seed: UInt64) { generator = SplitMix64(seed: seed &+ 0x9E37_79B9_7F4A_7C15) }
    public mutating func next() -> UInt64 { generator.next() }
    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * Float(Double(next() >> 11) * 0x1p-53)
    }
    /// Integer in [lo, hi].
    public mutating func int(_ lo: Int, _ hi: Int) -> Int { lo + Int(next() % UInt64(hi - lo + 1)) }
    /// A tensor with uniform entries in [lo, hi).
    public mutating func tensor(_ shape: [Int], _ lo: Float = -1, _ hi: Float = 1) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in uniform(lo, hi) })
    }
}

/// ‖a − b‖∞ / max(1, ‖b‖∞): a scale-aware maximum error.
public func relativeMaxError(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "shapes differ: \(a.shape) vs \(b.shape)")
    var m: Float = 0
    for i in 0..<a.count { m = max(m, abs(a.scalars[i] - b.scalars[i])) }
    return m / max(1, b.maxAbs())
}

/// ‖a − b‖₂ / max(‖b‖₂, tiny): the relative error used by gradient checks.
public func relativeNormError(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count)
    var d = 0.0, n = 0.0
    for i in 0..<a.count { d += Double(a[i] - b[i]) * Double(a[i] - b[i]); n += Double(b[i]) * Double(b[i]) }
    return (d / max(n, 1e-30)).squareRoot()
}

/// Central finite-difference gradient of a scalar function of a flat vector, ∂L/∂vᵢ ≈ (L(v + hεᵢ) − L(v − hεᵢ))/2h.
/// `loss` should accumulate in Double so the difference is not lost to Float rounding.
public func finiteDifferenceGradient(_ v: [Float], step h: Float = 1e-2, loss: ([Float]) -> Double) -> [Float] {
    var g = [Float](repeating: 0, count: v.count)
    var w = v
    for i in 0..<v.count {
        let orig = w[i]
        w[i] = orig + h; let lp = loss(w)
        w[i] = orig - h; let lm = loss(w)
        w[i] = orig
        g[i] = Float((lp - lm) / (2 * Double(h)))
    }
    return g
}

/// ⟨y, r⟩ in Double: the scalar probe loss whose gradient with respect to y is r.
public func probe(_ y: Tensor, _ r: Tensor) -> Double {
    precondition(y.count == r.count)
    var s = 0.0
    for i in 0..<y.count { s += Double(y.scalars[i]) * Double(r.scalars[i]) }
    return s
}

/// Finite-difference check of a layer: analytic dL/dx and dL/dθ from `backward` against central
/// differences of L = ⟨layer(x), r⟩ for a random probe r. Returns (input error, parameter error) as
/// relative L2 norms.
public func layerGradientErrors(
    _ layer: any Layer, _ p: ParameterStore, input x: Tensor, seed: UInt64 = 7,
    step: Float = 1e-2
) -> (input: Double, parameters: Double) {
    var rng = TestRandom(seed: seed)
    let (y, cache) = layer.forward(x, p)
    let r = rng.tensor(y.shape)
    p.zeroGradients()
    let dx = layer.backward(r, cache, p)
    let analyticParams = p.gradients
    let fdX = finiteDifferenceGradient(x.scalars, step: step) { v in probe(layer(Tensor(shape: x.shape, scalars: v), p), r) }
    let saved = p.values
    let fdP = finiteDifferenceGradient(saved, step: step) { v in
        p.values = v
        return probe(layer(x, p), r)
    }
    p.values = saved
    let paramError = saved.isEmpty ? 0 : relativeNormError(analyticParams, fdP)
    return (relativeNormError(dx.scalars, fdX), paramError)
}
