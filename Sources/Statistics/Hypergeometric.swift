import Foundation

/// The hypergeometric distribution and the exact upper confidence bound on a population's count of marked items.
///
/// X ~ Hypergeom(N, K, k): the number of marked items among k drawn uniformly without replacement from a population
/// of N items of which K are marked. P(X = x) = C(K, x)·C(N − K, k − x) / C(N, k) on max(0, k − N + K) ≤ x ≤ min(k, K).
/// (SciPy's `hypergeom(M = N, n = K, N = k)`.)
///
/// The audit of serialized smoothing (docs/certificate.md §4) draws k of the N estimation samples, counts the drawn samples
/// whose serialized prediction disagrees with the base classifier in the over-claiming direction (x), and bounds
/// the population's number of such samples D from above by `upperBound`.
public enum Hypergeometric {
    /// ln P(X = x) on the support, as Loader's binomial decomposition (R's dhyper): with p = k/N,
    /// P(X = x) = b(x; K, p)·b(k − x; N − K, p) / b(k; N, p), each binomial term by the saddle-point form of
    /// `Binomial`, so no large log-gamma values are subtracted (direct ln C sums lose ~1e-10 at N = 10⁴).
    static func logPMFOnSupport(_ x: Int, _ n: Int, _ m: Int, _ k: Int) -> Double {
        if k == 0 || k == n { return 0 }  // the support is a single point
        let p = Double(k) / Double(n)
        return Binomial.logPMFUnchecked(x, m, p) + Binomial.logPMFUnchecked(k - x, n - m, p) - Binomial.logPMFUnchecked(k, n, p)
    }

    /// The support [lo, hi] of Hypergeom(N, K, k).
    static func support(population n: Int, marked m: Int, draws k: Int) -> ClosedRange<Int> {
        max(0, k - (n - m))...min(k, m)
    }

    static func validate(population n: Int, marked m: Int, draws k: Int) throws {
        guard n >= 0 else { throw StatisticsError.invalidCount(field: "population", value: Double(n)) }
        guard m >= 0, m <= n else { throw StatisticsError.invalidCount(field: "marked", value: Double(m)) }
        guard k >= 0, k <= n else { throw StatisticsError.invalidCount(field: "draws", value: Double(k)) }
    }

    /// ln P(X = x) (−∞ outside the support).
    public static func logProbability(_ x: Int, population n: Int, marked m: Int, draws k: Int) throws -> Double {
        try validate(population: n, marked: m, draws: k)
        guard support(population: n, marked: m, draws: k).contains(x) else { return -.infinity }
        return logPMFOnSupport(x, n, m, k)
    }

    /// P(X ≤ x). Sums the shorter side of the support in log space (log-sum-exp about the largest term), so tails
    /// as small as 1e-300 keep full relative precision; the complement side is used when it is the shorter one.
    public static func cdf(_ x: Int, population n: Int, marked m: Int, draws k: Int) throws -> Double {
        try validate(population: n, marked: m, draws: k)
        let s = support(population: n, marked: m, draws: k)
        if x < s.lowerBound { return 0 }
        if x >= s.upperBound { return 1 }
        let below = s.lowerBound...x, above = (x + 1)...s.upperBound
        let useLower = below.count <= above.count || x < mode(population: n, marked: m, draws: k)
        let terms = (useLower ? below : above).map { logPMFOnSupport($0, n, m, k) }
        let top = terms.max()!
        let sum = exp(top) * terms.reduce(0) { $0 + exp($1 - top) }
        return useLower ? min(1, sum) : max(0, 1 - sum)
    }

    /// ⌊(k + 1)(K + 1)/(N + 2)⌋, the mode.
    static func mode(population n: Int, marked m: Int, draws k: Int) -> Int { (k + 1) * (m + 1) / (n + 2) }

    /// The exact one-sided upper confidence bound on K at level 1 − α after observing x marked items in k draws:
    /// the largest K′ with P(X ≤ x | K′) > α. Since P(X ≤ x | K) decreases in K, P(K > bound) ≤ α for every true
    /// K. Found by bisection on integers in [x, N − k + x] (the K′ consistent with the observation).
    public static func upperBound(observed x: Int, population n: Int, draws k: Int, alpha: Double) throws -> Int {
        try Validate.openUnit(alpha, field: "alpha")
        try validate(population: n, marked: 0, draws: k)
        guard x >= 0, x <= k else { throw StatisticsError.invalidCount(field: "observed", value: Double(x)) }
        var lo = x, hi = n - k + x  // cdf(x | lo) = 1 > α; find the largest K′ ≤ hi with cdf > α
        if try cdf(x, population: n, marked: hi, draws: k) > alpha { return hi }
        while hi - lo > 1 {  // invariant: cdf(lo) > α ≥ cdf(hi)
            let mid = lo + (hi - lo) / 2
            if try cdf(x, population: n, marked: mid, draws: k) > alpha { lo = mid } else { hi = mid }
        }
        return lo
    }
}
