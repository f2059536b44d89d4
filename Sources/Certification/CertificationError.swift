/// Bad input to certification (options, model/data mismatch). One line each.
public enum CertificationError: Error, CustomStringConvertible, Equatable, Sendable {
    case invalidSetting(name: String, value: String, reason: String)
    case modelMismatch(reason: String)
    case nonFiniteInput(image: Int)

    public var description: String {
        switch self {
        case let .invalidSetting(name, value, reason): return "invalid --\(name) \(value): \(reason)"
        case let .modelMismatch(reason): return "model does not fit the input: \(reason)"
        case let .nonFiniteInput(image): return "image \(image) contains NaN or infinite values"
        }
    }
}
