import Foundation

/// The binomial distribution Bin(n, p): probability mass in log space and the two tails, accurate for
/// n up to ~1e9 (no large log-gamma values are subtracted).
public enum Binomial {
    /// ln P(X = k) for X ~ Bin(n, p); −∞ outside 0…n.
    ///
    /// Loader's saddle-point form: ln P = δ(n) − δ(k) − δ(n−k) − D(k, np) − D(n−k, nq) + ½·ln(n/(2πk(n−k))),
    /// with δ the Stirling remainder and D(x, m) = x·ln(x/m) + m − x evaluated without cancellation;
    /// absolute error ≈ 1e−13 for n = 1e6 where the pmf does not underflow.
    /// Throws for n < 0 or p outside [0, 1].
    public static func logPMF(_ k: Int, trials n: Int, p: Double) throws -> Double {
        try check(trials: n, p: p)
        return logPMFUnchecked(k, n, p)
    }

    /// P(X = k) for X ~ Bin(n, p) (see `logPMF`).
    public static func pmf(_ k: Int, trials n: Int, p: Double) throws -> Double {
        exp(try logPMF(k, trials: n, p: p))
    }

    /// Distribution function P(X ≤ k) = 1 − I_p(k + 1, n − k), without cancellation.
    public static func cdf(_ k: Int, trials n: Int, p: Double) throws -> Double {
        try check(trials: n, p: p)
        return cdfUnchecked(k, n, p)
    }

    /// Survival function P(X > k) = I_p(k + 1, n − k) (SciPy's `binom.sf`), without cancellation.
    public static func survival(_ k: Int, trials n: Int, p: Double) throws -> Double {
        try check(trials: n, p: p)
        return survivalUnchecked(k, n, p)
    }

    static func check(trials n: Int, p: Double) throws {
        guard n >= 0 else { throw StatisticsError.invalidCount(field: "trials", value: Double(n)) }
        try Validate.closedUnit(p, field: "p")
    }

    static func logPMFUnchecked(_ k: Int, _ n: Int, _ p: Double) -> Double {
        if k < 0 || k > n { return -.infinity }
        let q = 1 - p
        if p == 0 { return k == 0 ? 0 : -.infinity }
        if p == 1 { return k == n ? 0 : -.infinity }
        if k == 0 { return Double(n) * log1p(-p) }
        if k == n { return Double(n) * log(p) }
        let nd = Double(n), kd = Double(k), rd = Double(n - k)
        // n·q as n − n·p when p ≥ ½ keeps the smaller of p, q authoritative (1 − p is exact there).
        let np = nd * p
        let nq = p <= 0.5 ? nd * q : nd - np
        let lc = stirlingCorrection(nd) - stirlingCorrection(kd) - stirlingCorrection(rd)
        return lc - saddleDeviance(kd, np) - saddleDeviance(rd, nq)
            + 0.5 * (log(nd) - log(kd) - log(rd)) - halfLogTwoPi
    }

    static func cdfUnchecked(_ k: Int, _ n: Int, _ p: Double) -> Double {
        if k < 0 { return 0 }
        if k >= n { return 1 }
        return Beta.incomplete(x: p, y: 1 - p, a: Double(k) + 1, b: Double(n - k)).upper
    }

    static func survivalUnchecked(_ k: Int, _ n: Int, _ p: Double) -> Double {
        if k < 0 { return 1 }
        if k >= n { return 0 }
        return Beta.incomplete(x: p, y: 1 - p, a: Double(k) + 1, b: Double(n - k)).lower
    }
}
