import Foundation

// Building blocks shared by the beta and binomial functions. They keep large-parameter results accurate by
// never subtracting two large log-gamma values: Γ is split as Stirling's formula times e^δ(x), and the
// remaining logarithms are written as t − log(1 + t) ≥ 0, which has no cancellation.

/// ln Γ(x) for x > 0 (glibc `lgamma_r`, which does not touch the global `signgam`).
@inline(__always)
func logGamma(_ x: Double) -> Double {
    var sign: Int32 = 0
    return lgamma_r(x, &sign)
}

/// ½·ln(2π).
let halfLogTwoPi = 0.9189385332046728

/// Stirling remainder δ(x) = ln Γ(x) − [(x − ½)·ln x − x + ½·ln(2π)] for x > 0.
///
/// For x ≥ 10 the asymptotic series Σ B₂ₖ / (2k(2k−1)·x^(2k−1)) with eight terms (truncation error
/// below 2e−18); below 10 directly from `lgamma` (absolute error ≈ 1e−15).
func stirlingCorrection(_ x: Double) -> Double {
    if x >= 10 {
        let r = 1 / x
        let r2 = r * r
        // B₂ₖ/(2k(2k−1)), k = 1…8.
        let c: [Double] = [
            1.0 / 12, -1.0 / 360, 1.0 / 1260, -1.0 / 1680, 1.0 / 1188,
            -691.0 / 360360, 1.0 / 156, -3617.0 / 122400,
        ]
        var sum = 0.0
        for k in stride(from: c.count - 1, through: 0, by: -1) {
            sum = sum * r2 + c[k]
        }
        return sum * r
    }
    return logGamma(x) - ((x - 0.5) * log(x) - x + halfLogTwoPi)
}

/// t − ln(1 + t) ≥ 0 for t > −1, accurate to a few ulp relative (also for |t| ≪ 1, where it is ≈ t²/2).
///
/// For |t| ≤ ½ with s = t/(2 + t): ln(1 + t) = 2·atanh(s), so t − ln(1 + t) = t·s − 2·Σₖ s^(2k+1)/(2k+1), k ≥ 1.
func logOnePlusComplement(_ t: Double) -> Double {
    if abs(t) > 0.5 { return t - log1p(t) }
    let s = t / (2 + t)
    let s2 = s * s
    var term = s * s2  // s^(2k+1), k = 1
    var sum = 0.0
    var k = 1.0
    while true {
        let add = term / (2 * k + 1)
        sum += add
        if abs(add) <= 1e-17 * abs(sum) { break }
        term *= s2
        k += 1
    }
    return t * s - 2 * sum
}

/// Saddle-point deviance D(x, m) = x·ln(x/m) + m − x ≥ 0 for x ≥ 0, m > 0 (Loader's bd0), without cancellation.
///
/// With x = m(1 + t): D = m·[(1 + t)·ln(1 + t) − t] = m·[t² − (1 + t)·(t − ln(1 + t))].
func saddleDeviance(_ x: Double, _ m: Double) -> Double {
    if x == 0 { return m }
    let t = (x - m) / m
    if abs(t) > 0.5 { return x * log(x / m) + m - x }
    return m * (t * t - (1 + t) * logOnePlusComplement(t))
}
