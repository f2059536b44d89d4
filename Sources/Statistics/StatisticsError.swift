/// Bad input to a statistical procedure (a confidence level or counts read from configuration or data).
///
/// Domain errors of the pure special functions (`Normal`, `Beta`) are programmer errors and stop at a
/// `precondition` instead; the procedures that take user-facing values (`ClopperPearson`, `BinomialTest`,
/// the `Binomial` distribution functions) validate and throw this error.
public enum StatisticsError: Error, CustomStringConvertible, Sendable {
    /// A probability or significance level outside its allowed range (or not finite).
    /// `range` names the allowed range, e.g. "(0, 1)".
    case invalidProbability(field: String, value: Double, range: String)
    /// A count (successes or trials) that is negative or not finite.
    case invalidCount(field: String, value: Double)
    /// More successes than trials.
    case successesExceedTrials(successes: Double, trials: Double)

    public var description: String {
        switch self {
        case let .invalidProbability(field, value, range):
            return "statistics: \(field) = \(value) is not a probability in \(range)"
        case let .invalidCount(field, value):
            return "statistics: \(field) = \(value) is not a finite count ≥ 0"
        case let .successesExceedTrials(successes, trials):
            return "statistics: successes = \(successes) exceed trials = \(trials)"
        }
    }
}

/// Shared input checks of the throwing procedures.
enum Validate {
    /// `value` must lie in the open interval (0, 1).
    static func openUnit(_ value: Double, field: String) throws {
        guard value > 0, value < 1 else {
            throw StatisticsError.invalidProbability(field: field, value: value, range: "(0, 1)")
        }
    }

    /// `value` must lie in the closed interval [0, 1].
    static func closedUnit(_ value: Double, field: String) throws {
        guard value >= 0, value <= 1 else {
            throw StatisticsError.invalidProbability(field: field, value: value, range: "[0, 1]")
        }
    }

    /// `successes` and `trials` must be finite, ≥ 0, with successes ≤ trials.
    static func counts(successes: Double, trials: Double) throws {
        guard trials.isFinite, trials >= 0 else {
            throw StatisticsError.invalidCount(field: "trials", value: trials)
        }
        guard successes.isFinite, successes >= 0 else {
            throw StatisticsError.invalidCount(field: "successes", value: successes)
        }
        guard successes <= trials else {
            throw StatisticsError.successesExceedTrials(successes: successes, trials: trials)
        }
    }
}
