import Foundation

/// Exact binomial test of H₀: X ~ Bin(n, p).
public enum BinomialTest {
    /// Relative tolerance under which an outcome counts as "no more likely" than the observed one
    /// (SciPy's `binomtest`: pmf(j) ≤ pmf(k)·(1 + 1e−7)).
    public static let relativeTolerance = 1 + 1e-7

    /// Two-sided p-value of k successes in n trials under success probability p, SciPy's
    /// `binomtest(k, n, p).pvalue`: the total probability of the outcomes j with pmf(j) ≤ pmf(k)·(1 + 1e−7),
    /// capped at 1 (and exactly 1 when k = n·p).
    ///
    /// The observed tail is P(X ≤ k) or P(X ≥ k); the opposite tail starts where a binary search over the
    /// monotone side of the mode finds the pmf (in log space) below the threshold, so n = 1e6 costs ~20
    /// pmf evaluations and two incomplete-beta evaluations. Used by PREDICT (Cohen et al. 2019) with
    /// k = c₁, n = c₁ + c₂, p = ½.
    /// Throws for n < 0, k outside 0…n, or p outside [0, 1].
    public static func twoSidedPValue(successes k: Int, trials n: Int, p: Double) throws -> Double {
        try Binomial.check(trials: n, p: p)
        guard k >= 0 else { throw StatisticsError.invalidCount(field: "successes", value: Double(k)) }
        guard k <= n else { throw StatisticsError.successesExceedTrials(successes: Double(k), trials: Double(n)) }
        let np = Double(n) * p
        if Double(k) == np { return 1 }
        let threshold = Binomial.logPMFUnchecked(k, n, p) + log1p(relativeTolerance - 1)
        let isLikelyEnough: (Int) -> Bool = { Binomial.logPMFUnchecked($0, n, p) > threshold }
        let value: Double
        if Double(k) < np {
            // Smallest j in [⌈np⌉, n] with pmf(j) ≤ threshold (the pmf is non-increasing there).
            var lo = Int(np.rounded(.up)), hi = n + 1  // invariant: pmf(lo−1…) above, answer in [lo, hi]
            while lo < hi {
                let mid = lo + (hi - lo) / 2
                if isLikelyEnough(mid) { lo = mid + 1 } else { hi = mid }
            }
            let upperTail = lo <= n ? Binomial.survivalUnchecked(lo - 1, n, p) : 0
            value = Binomial.cdfUnchecked(k, n, p) + upperTail
        } else {
            // Largest j in [0, ⌊np⌋] with pmf(j) ≤ threshold (the pmf is non-decreasing there).
            var lo = -1, hi = Int(np.rounded(.down))  // answer in [lo, hi]; −1 means none
            while lo < hi {
                let mid = hi - (hi - lo) / 2
                if isLikelyEnough(mid) { hi = mid - 1 } else { lo = mid }
            }
            let lowerTail = lo >= 0 ? Binomial.cdfUnchecked(lo, n, p) : 0
            value = lowerTail + Binomial.survivalUnchecked(k - 1, n, p)
        }
        return min(1, value)
    }
}
