// Vectorised exp and erf for Float (8 lanes), accurate to a few ulps of Float: the elementwise transcendental
// functions of GELU, which libm evaluates one scalar call at a time (≈ 9 % of a MiniLM forward with `erff`).

/// Lane-wise transcendental functions. Every lane computes exactly the scalar sequence of operations, so a value's
/// result does not depend on its position (a tail padded into a vector gives the same bits).
public enum VectorMath {
    public typealias V = SIMD8<Float>

    /// e^x, relative error ≲ 2e-7 on [−87, 88]; x below −87 gives ≈ 0, above 88 is clamped (≈ 1.65e38).
    /// x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two for exactness), e^r by its degree-7 Taylor polynomial,
    /// 2^n by the exponent bits.
    @inlinable
    public static func exp(_ x: V) -> V {
        let xc = x.clamped(lowerBound: V(repeating: -87), upperBound: V(repeating: 88))
        // n = round(x·log2 e) by the 1.5·2²³ trick: its low mantissa bits then hold n as an integer (no
        // float→int conversion, which does not vectorise).
        let shifted = xc * 1.442_695_04 + 12_582_912
        let n = shifted - 12_582_912
        let r = (xc - n * 0.693_145_752) - n * 1.428_606_82e-6
        var p = V(repeating: 1.0 / 5040)
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let bits = ((unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000) &+ 127) &<< 23
        return p * unsafeBitCast(bits, to: V.self)
    }

    /// erf(x), absolute error ≲ 5e-7 (Abramowitz & Stegun 7.1.26 on |x|, sign restored).
    @inlinable
    public static func erf(_ x: V) -> V {
        let a = x.replacing(with: -x, where: x .< 0)
        let t = 1 / (1 + 0.327_591_1 * a)
        var p = V(repeating: 1.061_405_429)
        p = p * t - 1.453_152_027
        p = p * t + 1.421_413_741
        p = p * t - 0.284_496_736
        p = p * t + 0.254_829_592
        p = p * t
        let y = 1 - p * exp(-a * a)
        return y.replacing(with: 0 - y, where: x .< 0)
    }

    /// Apply `f` to n floats in 8-lane blocks, the tail padded with zeros.
    @inlinable
    public static func map(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ f: (V) -> V) {
        var i = 0
        while i + 8 <= n {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: f(v), as: V.self)
            i += 8
        }
        if i < n {
            var v = V(repeating: 0)
            for k in 0..<(n - i) { v[k] = x[i + k] }
            let r = f(v)
            for k in 0..<(n - i) { y[i + k] = r[k] }
        }
    }
}
