/// Bad input to certification (settings, model/data mismatch). One line each.
public enum CertificationError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A `SmoothingConfiguration` field (named as in Swift, e.g. `chainsPerBlock`) with a value it cannot take;
    /// front ends map the field to their own spelling of it.
    case invalidSetting(name: String, value: String, reason: String)
    case modelMismatch(reason: String)
    case nonFiniteInput(image: Int)
    /// Every from-zero solve of the base classifier on an image diverged: the certified classifier is undefined there.
    case baseClassifierDiverged(image: Int, samples: Int)
    /// The model's logits were NaN or infinite on noisy samples of an image: no class can be read from them.
    case nonFiniteLogits(image: Int, samples: Int)

    public var description: String {
        switch self {
        case let .invalidSetting(name, value, reason): return "invalid setting \(name) = \(value): \(reason)"
        case let .modelMismatch(reason): return "model does not fit the input: \(reason)"
        case let .nonFiniteInput(image): return "image \(image) contains NaN or infinite values"
        case let .baseClassifierDiverged(image, samples):
            return
                "image \(image): the base solver diverged on all \(samples) of its from-zero solves; the base classifier is undefined (check the model or the base solver's settings)"
        case let .nonFiniteLogits(image, samples):
            return
                "image \(image): the model's logits are NaN or infinite on \(samples) noisy sample(s); no class can be read from them (check the checkpoint and --sigma)"
        }
    }
}
