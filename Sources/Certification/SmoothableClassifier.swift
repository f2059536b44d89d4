import Equilibrium
import TensorCore

/// Any classifier of batches that randomized smoothing can wrap. Models with a fixed-point state (DEQs) also
/// support serialized smoothing: they classify from a given start state and return the state they reached.
public protocol SmoothableClassifier: Sendable {
    var classes: Int { get }
    /// Input shape of one sample (e.g. [28, 28, 1]).
    var inputShape: [Int] { get }
    /// True when `classify` honours `start` and returns a state (SRS needs it).
    var supportsSerializedSmoothing: Bool { get }
    /// Classify a batch x [B, …]. For DEQs: solve from `start` (zeros when nil) with `solver`.
    func classify(_ x: Tensor, start: Tensor?, solver: SolverConfig) -> ClassifiedBatch
}

/// A classifier without a state (a feed-forward network such as a ViT): it only predicts, so it supports standard
/// smoothing only, and its conformance to `SmoothableClassifier` — which is shaped for models that solve for a
/// state — comes from this extension: `start` and `solver` do not apply, one evaluation per batch, nothing diverges.
public protocol StatelessClassifier: SmoothableClassifier {
    /// The predicted class of each sample of x [B, …].
    func predict(_ x: Tensor) -> [Int]
}

extension StatelessClassifier {
    public var supportsSerializedSmoothing: Bool { false }

    public func classify(_ x: Tensor, start: Tensor?, solver: SolverConfig) -> ClassifiedBatch {
        ClassifiedBatch(predictions: predict(x), state: nil, evaluations: 1, diverged: Array(repeating: false, count: x.shape[0]))
    }
}

extension Tensor {
    /// The class of each row of logits [B, C], or −1 for a row holding NaN or ±inf (argmax would read class 0 there).
    public func finiteArgmaxRows() -> [Int] {
        let d = shape.last!
        return zip(argmaxRows(), 0...).map { best, i in
            (0..<d).allSatisfy { scalars[i * d + $0].isFinite } ? best : -1
        }
    }
}

/// The result of classifying one batch.
public struct ClassifiedBatch: Sendable {
    /// The class of each sample; −1 where the logits were not finite (smoothing refuses to count those).
    public var predictions: [Int]
    /// The fixed point reached (nil for classifiers without a state).
    public var state: Tensor?
    /// f-evaluations spent on the batch (1 for a feed-forward classifier).
    public var evaluations: Int
    /// Samples whose solve diverged.
    public var diverged: [Bool]

    public init(predictions: [Int], state: Tensor?, evaluations: Int, diverged: [Bool]) {
        self.predictions = predictions; self.state = state; self.evaluations = evaluations; self.diverged = diverged
    }
}

/// A DEQ as a smoothable classifier: inject, solve from the start state, head.
public struct EquilibriumClassifier<Model: EquilibriumModel>: SmoothableClassifier {
    public let model: Model
    public let inputShape: [Int]
    public init(_ model: Model, inputShape: [Int]) { self.model = model; self.inputShape = inputShape }
    public var classes: Int { model.classes }
    public var supportsSerializedSmoothing: Bool { true }

    public func classify(_ x: Tensor, start: Tensor?, solver: SolverConfig) -> ClassifiedBatch {
        let (inj, _) = model.inject(x)
        let z0 = start ?? model.zeroState(batch: x.shape[0])
        let (z, stats) = solveFixedPoint({ model.map($0, inj) }, initial: z0, config: solver)
        return ClassifiedBatch(
            predictions: model.head(z).logits.finiteArgmaxRows(), state: z, evaluations: stats.evaluations,
            diverged: stats.diverged)
    }
}

extension EquilibriumClassifier where Model == DEQSmall {
    /// DEQ-S knows its input shape from its configuration.
    public init(_ model: DEQSmall) {
        let c = model.configuration
        self.init(model, inputShape: [c.inputHeight, c.inputWidth, c.inputChannels])
    }
}
