/// Bad input to the `Equilibrium` module (configuration, shapes, files), as opposed to programmer errors
/// (which are `precondition` failures) and solver non-convergence (which is data in `SolverStats`).
public enum EquilibriumError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A configuration field holds a value outside its domain, e.g. `maxSteps = 0`.
    case invalidConfiguration(field: String, value: String, reason: String)
    /// A name that does not denote a known option, e.g. a solver kind read from the command line.
    case unknownName(field: String, value: String, allowed: [String])
    /// A checkpoint tensor that is missing, unexpected, of the wrong shape, or not finite (named).
    case checkpointTensor(name: String, reason: String)

    /// One line, naming the field and the offending value.
    public var description: String {
        switch self {
        case let .invalidConfiguration(field, value, reason):
            return "invalid \(field) = \(value): \(reason)"
        case let .unknownName(field, value, allowed):
            return "unknown \(field) '\(value)' (allowed: \(allowed.joined(separator: ", ")))"
        case let .checkpointTensor(name, reason):
            return "tensor '\(name)': \(reason)"
        }
    }
}
