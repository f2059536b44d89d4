import Certification
import NeuralNet
import TensorCore
import Transformers

/// A ViT checkpoint as a smoothable classifier (standard smoothing only: it has no state to warm-start):
/// x [B, H, W, C] in pixel space, standardised inside; one "evaluation" per sample.
public struct ViTSmoothingClassifier: StatelessClassifier, @unchecked Sendable {
    // @unchecked: `parameters` is a reference type; each rank (thread) loads its own model.
    public let model: VisionTransformer
    public let parameters: ParameterStore
    public let normalization: (mean: Float, std: Float)

    public init(model: VisionTransformer, parameters: ParameterStore, normalization: (mean: Float, std: Float)) {
        self.model = model; self.parameters = parameters; self.normalization = normalization
    }

    public var classes: Int { model.configuration.classes }
    public var inputShape: [Int] { [model.configuration.imageHeight, model.configuration.imageWidth, model.configuration.channels] }

    public func predict(_ x: Tensor) -> [Int] {
        var s = x
        ViTEvaluation.standardize(&s, normalization)
        return model(s, parameters).finiteArgmaxRows()
    }
}
