/// Bad input at the job level (options, data/model mismatches, files). One line each, naming the problem.
public enum CoordinatorError: Error, CustomStringConvertible, Sendable {
    case invalidOption(name: String, value: String, reason: String)
    case modelDataMismatch(model: String, data: String, reason: String)
    case checkpoint(path: String, reason: String)
    /// A model configuration field (as `MDEQConfiguration` names it) that is unreadable or disagrees with the tensors.
    case configurationField(String, value: String, reason: String)
    case output(path: String, reason: String)
    case nonFiniteTraining(step: Int, reason: String)
    /// Runs or reports that must not be combined (resume with other settings, merge of different runs); one line.
    case mismatch(String)

    public var description: String {
        switch self {
        case let .invalidOption(name, value, reason): return "invalid --\(name) \(value): \(reason)"
        case let .modelDataMismatch(model, data, reason): return "model \(model) does not fit data set \(data): \(reason)"
        case let .checkpoint(path, reason): return "\(path): \(reason)"
        case let .configurationField(field, value, reason): return "configuration field '\(field)' = \(value): \(reason)"
        case let .output(path, reason): return "cannot write \(path): \(reason)"
        case let .nonFiniteTraining(step, reason): return "training diverged at step \(step): \(reason)"
        case let .mismatch(text): return text
        }
    }
}
