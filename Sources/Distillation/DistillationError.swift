// Errors for bad input to the Distillation module.

/// Bad input to distillation or its evaluation: an IPC the data cannot satisfy, an unknown method or
/// architecture, or a distilled-set file that is malformed or does not fit the data set / architecture.
///
/// Every case names the offending file, field or value, so the command-line front end prints `description`
/// as one line and exits non-zero.
public enum DistillationError: Error, CustomStringConvertible, Equatable, Sendable {
    /// IPC must be ≥ 1 and at most the size of every class; `available` is the smallest class's size.
    case invalidIPC(ipc: Int, classIndex: Int, available: Int)
    /// A method name that is not one of `known`.
    case unknownMethod(name: String, known: [String])
    /// An architecture name that is not one of `known`.
    case unknownArchitecture(name: String, known: [String])
    /// A configuration field with an unusable value.
    case invalidConfiguration(field: String, value: String, requirement: String)
    /// The distilled-set file is unreadable or malformed (missing tensor, bad metadata, inconsistent shapes).
    case badSetFile(path: String, reason: String)
    /// The set's images have shape `found` [H, W, C] where the data set / architecture needs `expected`.
    case imageShapeMismatch(path: String, expected: [Int], found: [Int])
    /// The set declares `found` classes where the data set / architecture has `expected`.
    case classCountMismatch(path: String, expected: Int, found: Int)
    /// Soft labels were requested but the set carries none.
    case missingSoftLabels(path: String)

    public var description: String {
        switch self {
        case let .invalidIPC(ipc, c, available):
            return ipc < 1
                ? "invalid IPC \(ipc): images per class must be ≥ 1"
                : "invalid IPC \(ipc): class \(c) has only \(available) images"
        case let .unknownMethod(name, known):
            return "unknown distillation method '\(name)' (known: \(known.joined(separator: ", ")))"
        case let .unknownArchitecture(name, known):
            return "unknown architecture '\(name)' (known: \(known.joined(separator: ", ")))"
        case let .invalidConfiguration(field, value, requirement):
            return "invalid \(field) \(value): must be \(requirement)"
        case let .badSetFile(path, reason):
            return "\(path): not a distilled set: \(reason)"
        case let .imageShapeMismatch(path, expected, found):
            return "\(path): images are \(found) (H, W, C) but the data set / architecture needs \(expected)"
        case let .classCountMismatch(path, expected, found):
            return "\(path): the set has \(found) classes but the data set / architecture has \(expected)"
        case let .missingSoftLabels(path):
            return "\(path): soft labels requested but the set has none (distill with a teacher first)"
        }
    }
}
