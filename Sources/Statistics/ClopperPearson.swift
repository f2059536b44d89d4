import Foundation

/// One-sided Clopper–Pearson confidence bounds for a binomial proportion (Clopper & Pearson 1934).
///
/// With nA successes out of n trials, the lower bound at level 1 − α is the Beta(nA, n − nA + 1) quantile
/// at α (0 when nA = 0, α^(1/n) when nA = n), and P(p ≥ lowerBound) ≥ 1 − α for every true p. This is
/// p̲A in CERTIFY (Cohen et al. 2019) and the LCB of the SRS radius (Gao et al. 2024, Eqs. 12–13).
///
/// Counts may be non-integer (the SRS "reference-code" radius passes r·nA and r·n); the Beta quantile is
/// then evaluated at real parameters, which is SciPy's `beta.ppf(α, nA, n − nA + 1)`.
///
/// Errors: α outside (0, 1), negative or non-finite counts, or successes > trials throw `StatisticsError`
/// (these values come from configuration and data). successes = 0 (including trials = 0, "no evidence")
/// gives 0, which is always a valid lower bound.
public enum ClopperPearson {
    /// Lower bound p̲ with P(p ≥ p̲) ≥ 1 − α: Beta(nA, n − nA + 1) quantile at α.
    public static func lowerBound(successes: Double, trials: Double, alpha: Double) throws -> Double {
        try Validate.openUnit(alpha, field: "alpha")
        try Validate.counts(successes: successes, trials: trials)
        if successes == 0 { return 0 }
        if successes == trials { return pow(alpha, 1 / trials) }
        return Beta.inverseRegularizedIncomplete(alpha, a: successes, b: trials - successes + 1)
    }

    /// Integer-count convenience for `lowerBound(successes:trials:alpha:)`.
    public static func lowerBound(successes: Int, trials: Int, alpha: Double) throws -> Double {
        try lowerBound(successes: Double(successes), trials: Double(trials), alpha: alpha)
    }

    /// Upper bound p̄ with P(p ≤ p̄) ≥ 1 − α: Beta(nA + 1, n − nA) quantile at 1 − α
    /// (1 when nA = n, 1 − α^(1/n) when nA = 0); equals 1 − lowerBound(n − nA, n, α).
    public static func upperBound(successes: Double, trials: Double, alpha: Double) throws -> Double {
        try Validate.openUnit(alpha, field: "alpha")
        try Validate.counts(successes: successes, trials: trials)
        if successes == trials { return 1 }
        if successes == 0 { return -expm1(log(alpha) / trials) }
        return Beta.inverseRegularizedIncompleteComplement(alpha, a: successes + 1, b: trials - successes)
    }

    /// Integer-count convenience for `upperBound(successes:trials:alpha:)`.
    public static func upperBound(successes: Int, trials: Int, alpha: Double) throws -> Double {
        try upperBound(successes: Double(successes), trials: Double(trials), alpha: alpha)
    }
}
