import Foundation

/// The standard normal distribution N(0, 1): density φ, distribution function Φ, its complement, and Φ⁻¹,
/// all in full double precision (a few ulp, relative) including the far tails.
///
/// Φ⁻¹ is the map from a lower confidence bound p̲A to the certified radius R = σ·Φ⁻¹(p̲A) of randomized
/// smoothing (Cohen, Rosenfeld, Kolter 2019, Theorem 1).
public enum Normal {
    // Constants (from a 40-digit evaluation): 1/√2 split as a double-double, ½·ln(2π), 1/√(2π), 2/√π.
    static let invSqrt2Hi = 0.7071067811865476
    static let invSqrt2Lo = -4.833646656726457e-17
    static let halfLog2Pi = 0.9189385332046728
    static let invSqrt2Pi = 0.3989422804014327
    static let twoOverSqrtPi = 1.1283791670955126

    /// Density φ(x) = exp(−x²/2)/√(2π).
    public static func pdf(_ x: Double) -> Double {
        invSqrt2Pi * exp(-0.5 * x * x)
    }

    /// Distribution function Φ(x) = P(Z ≤ x) = ½·erfc(−x/√2).
    ///
    /// Relative error a few ulp on the whole line; the lower tail keeps full relative precision down to
    /// underflow (Φ(−37.5) ≈ 5e−308), because the rounding of x/√2 is corrected to first order.
    /// NaN propagates.
    public static func cdf(_ x: Double) -> Double {
        if x.isNaN { return .nan }
        return x < 0 ? upperTail(-x) : 1 - upperTail(x)
    }

    /// Survival function Q(x) = 1 − Φ(x) = Φ(−x), without cancellation for large x.
    public static func survival(_ x: Double) -> Double {
        cdf(-x)
    }

    /// Q(t) = ½·erfc(t/√2) for t ≥ 0 with t/√2 evaluated in double-double: erfc(z + δ) ≈ erfc(z) − δ·(2/√π)·e^(−z²).
    static func upperTail(_ t: Double) -> Double {
        if t == .infinity { return 0 }
        let zHi = t * invSqrt2Hi
        let zLo = fmaError(t, invSqrt2Hi, zHi) + t * invSqrt2Lo
        let base = erfc(zHi)
        return 0.5 * (base - zLo * twoOverSqrtPi * exp(-zHi * zHi))
    }

    /// The rounding error of the product a·b whose rounded value is `product` (exact via fused multiply–add).
    @inline(__always)
    static func fmaError(_ a: Double, _ b: Double, _ product: Double) -> Double {
        (-product).addingProduct(a, b)
    }

    /// Quantile Φ⁻¹(p): the x with Φ(x) = p.
    ///
    /// Full double precision on (0, 1), including p = 1e−300 and p = 1 − 2⁻⁵³ (the largest double below 1);
    /// Φ⁻¹(0) = −∞, Φ⁻¹(1) = +∞. Method: Acklam's rational approximation (relative error < 1.2e−9) refined by
    /// Halley steps against `cdf`, with the residual taken without cancellation (near the centre as
    /// ½·erf(x/√2) − (p − ½), in the tails relative to p). Precondition: 0 ≤ p ≤ 1.
    public static func quantile(_ p: Double) -> Double {
        precondition(p >= 0 && p <= 1, "Normal.quantile: p = \(p) is not in [0, 1]")
        if p == 0 { return -.infinity }
        if p == 1 { return .infinity }
        if p == 0.5 { return 0 }
        // By symmetry work with the lower tail q ≤ ½; 1 − p is exact for p ≥ ½ (Sterbenz).
        return p < 0.5 ? lowerQuantile(p) : -lowerQuantile(1 - p)
    }

    /// Φ⁻¹(q) for 0 < q ≤ ½ (a value ≤ 0).
    static func lowerQuantile(_ q: Double) -> Double {
        var x = acklam(q)
        for _ in 0..<4 {
            let u: Double  // Newton correction (Φ(x) − q)/φ(x)
            if q > 0.25 {
                // Φ(x) − q = ½·erf(x/√2) − (q − ½); q − ½ is exact here.
                let r = 0.5 * erf(x * invSqrt2Hi) - (q - 0.5)
                u = r / pdf(x)
            } else {
                // (Φ(x)/q − 1)·q/φ(x), with q/φ(x) formed in log space so neither underflows.
                let ratio = cdf(x) / q - 1
                u = ratio * exp(log(q) + 0.5 * x * x + halfLog2Pi)
            }
            let step = u / (1 + 0.5 * x * u)  // Halley: φ'/φ = −x
            x -= step
            if abs(step) <= 1e-17 * abs(x) { break }
        }
        return x
    }

    /// Acklam's rational approximation to Φ⁻¹(q), q ∈ (0, ½]; relative error below 1.15e−9.
    static func acklam(_ q: Double) -> Double {
        let a = (
            -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
            1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00
        )
        let b = (
            -5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
            6.680131188771972e+01, -1.328068155288572e+01
        )
        let c = (
            -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
            -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00
        )
        let d = (
            7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
            3.754408661907416e+00
        )
        if q < 0.02425 {
            let t = (-2 * log(q)).squareRoot()
            let num = ((((c.0 * t + c.1) * t + c.2) * t + c.3) * t + c.4) * t + c.5
            let den = (((d.0 * t + d.1) * t + d.2) * t + d.3) * t + 1
            return num / den
        }
        let s = q - 0.5
        let r = s * s
        let num = (((((a.0 * r + a.1) * r + a.2) * r + a.3) * r + a.4) * r + a.5) * s
        let den = ((((b.0 * r + b.1) * r + b.2) * r + b.3) * r + b.4) * r + 1
        return num / den
    }
}
