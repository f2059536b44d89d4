import Attacks
import NeuralNet
import TensorCore
import Transformers

/// A ViT checkpoint as a differentiable classifier in [0, 1] pixel space (standardisation inside): the target of
/// PGD. Parameter gradients are switched off while attacking.
public struct ViTAttackTarget: DifferentiableImageClassifier {
    public let model: VisionTransformer
    public let parameters: ParameterStore
    public let normalization: (mean: Float, std: Float)

    public init(model: VisionTransformer, parameters: ParameterStore, normalization: (mean: Float, std: Float)) {
        self.model = model; self.parameters = parameters; self.normalization = normalization
    }

    public func logits(_ x: Tensor) -> Tensor {
        var s = x
        ViTEvaluation.standardize(&s, normalization)
        return model(s, parameters)
    }

    public func logitsAndGradient(_ x: Tensor, labels: [Int]) -> (logits: Tensor, gradient: Tensor) {
        var s = x
        ViTEvaluation.standardize(&s, normalization)
        let saved = parameters.accumulatesGradients
        parameters.accumulatesGradients = false
        defer { parameters.accumulatesGradients = saved }
        let (logits, cache) = model.forward(s, parameters)
        let (_, g) = Loss.crossEntropy(logits: logits, labels: labels)  // ∂(mean CE)/∂logits; the sign and direction are all PGD uses
        var dx = model.backward(g, cache, parameters)
        let inv = 1 / normalization.std
        dx.withUnsafeMutableBufferPointer { d in for i in 0..<d.count { d[i] *= inv } }
        return (logits, dx)
    }
}
