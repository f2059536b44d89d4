import Foundation

extension Beta {
    /// Inverse of I_x(a, b) in x: the Beta(a, b) quantile, the x ∈ [0, 1] with I_x(a, b) = p.
    ///
    /// Full precision up to the conditioning of the problem (relative error in x ≈ (relative error of
    /// I)/(d ln I/d ln x), so ≈ 1e−14 unless a or b ≪ 1). Handles real a, b from ~1e−3 to ~1e7 (e.g.
    /// a = 1e6, b = 1) and p down to ~1e−300. Method: an Abramowitz–Stegun initial guess, then Halley steps
    /// safeguarded by a bracket that is bisected (geometrically when it spans orders of magnitude) whenever
    /// a step leaves it or stops shrinking. p ≤ ½ is matched on I, p > ½ on 1 − I (exact), so neither tail
    /// loses precision. A root below the normal range (≈ 2.2e−308) is returned as 0; one above 1 − 2⁻⁵³ as
    /// 1 or 1 − 2⁻⁵³. Preconditions: a, b > 0 finite; 0 ≤ p ≤ 1.
    public static func inverseRegularizedIncomplete(_ p: Double, a: Double, b: Double) -> Double {
        precondition(
            a > 0 && b > 0 && a.isFinite && b.isFinite,
            "Beta.inverseRegularizedIncomplete: parameters (\(a), \(b)) must be finite and > 0")
        precondition(p >= 0 && p <= 1, "Beta.inverseRegularizedIncomplete: p = \(p) is not in [0, 1]")
        if p == 0 { return 0 }
        if p == 1 { return 1 }
        return p <= 0.5
            ? solve(target: p, complement: false, a: a, b: b)
            : solve(target: 1 - p, complement: true, a: a, b: b)
    }

    /// The x ∈ [0, 1] with 1 − I_x(a, b) = q (the Beta(a, b) quantile at 1 − q, without forming 1 − q).
    /// Preconditions: a, b > 0 finite; 0 ≤ q ≤ 1.
    public static func inverseRegularizedIncompleteComplement(_ q: Double, a: Double, b: Double) -> Double {
        precondition(
            a > 0 && b > 0 && a.isFinite && b.isFinite,
            "Beta.inverseRegularizedIncompleteComplement: parameters (\(a), \(b)) must be finite and > 0")
        precondition(q >= 0 && q <= 1, "Beta.inverseRegularizedIncompleteComplement: q = \(q) is not in [0, 1]")
        if q == 0 { return 1 }
        if q == 1 { return 0 }
        return q <= 0.5
            ? solve(target: q, complement: true, a: a, b: b)
            : solve(target: 1 - q, complement: false, a: a, b: b)
    }

    /// Root of g(x) = I_x − t (complement = false) or g(x) = t − (1 − I_x) (complement = true); g is
    /// increasing with g′ = x^(a−1)(1 − x)^(b−1)/B(a, b), g(0) < 0 < g(1).
    static func solve(target t: Double, complement: Bool, a: Double, b: Double) -> Double {
        var lo = 0.0, hi = 1.0
        var gLo = complement ? t - 1 : -t, gHi = complement ? t : 1 - t  // g at the bracket ends
        var x = initialGuess(target: t, complement: complement, a: a, b: b)
        if !(x > 0 && x < 1) { x = 0.5 }
        var lastStep = Double.infinity, stepBefore = Double.infinity
        for _ in 0..<600 {
            let y = 1 - x
            let (lower, upper) = incomplete(x: x, y: y, a: a, b: b)
            let g = complement ? t - upper : lower - t
            if g == 0 { return x }
            if g < 0 { (lo, gLo) = (x, g) } else { (hi, gHi) = (x, g) }
            // Root below the normal range, where x has no relative precision left: flush to 0.
            if hi <= Double.leastNormalMagnitude { return 0 }
            // No double between the bracket ends: return the end with the smaller residual.
            if hi.nextDown <= lo { return abs(gLo) <= abs(gHi) ? lo : hi }

            var next = Double.nan
            let lx = x <= y ? log(x) : log1p(-y)
            let ly = x <= y ? log1p(-x) : log(y)
            let density = exp(logPowerTerms(x: x, y: y, a: a, b: b) - lx - ly)
            if density > 0 && density.isFinite {
                let newton = g / density
                // Halley: g″/g′ = (a − 1)/x − (b − 1)/y.
                let curvature = (a - 1) / x - (b - 1) / y
                let denominator = 1 - 0.5 * newton * curvature
                let step = (denominator > 0.5 && denominator < 2) ? newton / denominator : newton
                next = x - step
                // Not shrinking fast enough (noise or a bad region): fall back to bisection.
                if abs(step) > 0.5 * stepBefore { next = .nan }
                stepBefore = lastStep
                lastStep = abs(step)
            }
            if !(next > lo && next < hi) {
                next = bisect(lo, hi)
                stepBefore = lastStep
                lastStep = abs(next - x)
            }
            let tolerance = max(4 * Double.ulpOfOne * min(next, 1 - next), 2 * next.ulp)
            if abs(next - x) <= tolerance { return next }
            x = next
        }
        return x
    }

    /// Midpoint of the bracket: geometric in x (near 0) or in 1 − x (near 1) when the bracket spans more
    /// than a factor 8 there, arithmetic otherwise.
    static func bisect(_ lo: Double, _ hi: Double) -> Double {
        if hi <= 0.5 {
            let l = max(lo, Double.leastNormalMagnitude)
            if hi > 8 * l { return l.squareRoot() * hi.squareRoot() }
        } else if lo >= 0.5 {
            let yl = max(1 - hi, 0x1p-54), yh = 1 - lo
            if yh > 8 * yl { return 1 - yl.squareRoot() * yh.squareRoot() }
        }
        return lo + 0.5 * (hi - lo)
    }

    /// Starting point (A&S 26.5.22 for a, b ≥ 1; otherwise the leading power terms of each tail).
    static func initialGuess(target t: Double, complement: Bool, a: Double, b: Double) -> Double {
        if a >= 1 && b >= 1 {
            // Upper normal deviate of the lower-tail probability: y_p = −Φ⁻¹(P(X ≤ x)).
            let yp = complement ? Normal.quantile(t) : -Normal.quantile(t)
            let lambda = (yp * yp - 3) / 6
            let ia = 1 / (2 * a - 1), ib = 1 / (2 * b - 1)
            let h = 2 / (ia + ib)
            let w = yp * (h + lambda).squareRoot() / h - (ib - ia) * (lambda + 5.0 / 6 - 2 / (3 * h))
            let guess = a / (a + b * exp(2 * w))
            if guess > 0 && guess < 1 { return guess }
        }
        // I_x ≈ x^a/(a·B) near 0 and 1 − I_x ≈ y^b/(b·B) near 1; pick the side whose mass contains t.
        let logB = logBeta(a, b)
        let logLowerMass = a * log(a / (a + b)) - log(a)  // ≈ ln of I at the mean, up to B
        let logUpperMass = b * log(b / (a + b)) - log(b)
        let lowerShare = 1 / (1 + exp(logUpperMass - logLowerMass))
        let pLower = complement ? 1 - t : t
        if pLower < lowerShare {
            return exp((log(pLower) + log(a) + logB) / a)
        }
        let q = complement ? t : 1 - t
        return 1 - exp((log(q) + log(b) + logB) / b)
    }
}
