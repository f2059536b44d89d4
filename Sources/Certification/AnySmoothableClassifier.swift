import Equilibrium
import TensorCore

/// Any `SmoothableClassifier` behind one concrete type, so a job that loads "some checkpoint" (a DEQ or a ViT)
/// builds one `Smoothing<AnySmoothableClassifier>` instead of switching over model kinds. Every call forwards to
/// the wrapped classifier unchanged: counts, states and evaluations are those of the classifier itself.
public struct AnySmoothableClassifier: SmoothableClassifier {
    public let base: any SmoothableClassifier

    public init(_ base: any SmoothableClassifier) {
        self.base = (base as? AnySmoothableClassifier)?.base ?? base
    }

    public var classes: Int { base.classes }
    public var inputShape: [Int] { base.inputShape }
    public var supportsSerializedSmoothing: Bool { base.supportsSerializedSmoothing }

    public func classify(_ x: Tensor, start: Tensor?, solver: SolverConfig) -> ClassifiedBatch {
        base.classify(x, start: start, solver: solver)
    }
}
