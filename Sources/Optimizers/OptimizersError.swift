/// Bad input to the `Optimizers` module: invalid hyperparameters (from a configuration or the
/// command line) and optimizer state that does not fit the model (a `--resume` checkpoint).
///
/// Every case carries the field or buffer name and the offending value; `description` is one line.
/// Programmer errors (gradient and parameter buffers of different sizes) are `precondition`s.
public enum OptimizersError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A hyperparameter is out of its valid range (e.g. a negative learning rate, β ≥ 1).
    case invalidHyperparameter(field: String, value: Double, requirement: String)
    /// A weight-decay mask does not fit the parameter buffer (wrong length or a range outside it).
    case invalidDecayMask(reason: String)
    /// Saved state belongs to another optimizer kind (e.g. SGD state given to Adam).
    case stateKindMismatch(expected: String, found: String)
    /// Saved state lacks a buffer this optimizer needs.
    case missingStateBuffer(name: String)
    /// Saved state holds a buffer this optimizer does not know.
    case unknownStateBuffer(name: String)
    /// A saved buffer's length differs from the number of parameters.
    case stateSizeMismatch(name: String, expected: Int, found: Int)
    /// A saved step count is negative.
    case invalidStepCount(Int)

    public var description: String {
        switch self {
        case let .invalidHyperparameter(field, value, requirement):
            return "optimizer: \(field) = \(value) is invalid: must be \(requirement)"
        case let .invalidDecayMask(reason):
            return "optimizer: weight-decay mask does not fit the parameters: \(reason)"
        case let .stateKindMismatch(expected, found):
            return "optimizer state: saved by \(found), cannot resume \(expected)"
        case let .missingStateBuffer(name):
            return "optimizer state: buffer '\(name)' is missing"
        case let .unknownStateBuffer(name):
            return "optimizer state: unexpected buffer '\(name)'"
        case let .stateSizeMismatch(name, expected, found):
            return "optimizer state: buffer '\(name)' has \(found) elements, the model has \(expected) parameters"
        case let .invalidStepCount(step):
            return "optimizer state: step count \(step) is negative"
        }
    }
}

/// Throw `invalidHyperparameter` unless `ok`.
@inline(__always)
func require(_ ok: Bool, _ field: String, _ value: Float, _ requirement: String) throws(OptimizersError) {
    if !ok { throw .invalidHyperparameter(field: field, value: Double(value), requirement: requirement) }
}
