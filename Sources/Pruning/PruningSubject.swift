import NeuralNet
import Optimizers

/// A model family the pruning procedure can prune (docs/models.md §4): its parameters, the gradient of its training
/// loss on chosen training examples, and its accuracy on the validation part (used for selection) and the test part
/// (reported only). The subject owns its data, its loss (with or without distillation) and its augmentation.
public protocol PruningSubject: AnyObject {
    /// The trainable parameters; the procedure prunes `PrunableMatrices.names(in: parameters)`.
    var parameters: ParameterStore { get }
    /// Number of training examples (indices 0..<trainingCount of the subject's training part).
    var trainingCount: Int { get }
    /// Gradient-norm clipping after the batch gradient is complete (nil: none).
    var clipNorm: Float? { get }
    /// ADD the gradient of the mean loss over `examples` into `parameters.gradients`; return that mean loss and
    /// the number of correct predictions. `key` identifies the step (noise for augmentation comes from it), so
    /// a step computes the same on any rank.
    func accumulateGradients(examples: [Int], key: UInt64) throws -> (loss: Double, correct: Int)
    /// Accuracy on a part ("validation" selects, "test" reports); `limit` > 0 evaluates a prefix.
    /// `details` carries secondary figures (e.g. clean accuracy when the main one is under noise).
    func evaluate(_ part: PruningPart, limit: Int) throws -> (accuracy: Double, details: [String: Double])
    /// A fresh optimizer of the kind the subject trains with.
    func makeOptimizer() throws -> any Optimizer
}

public enum PruningPart: String, Sendable, Codable { case validation, test }
