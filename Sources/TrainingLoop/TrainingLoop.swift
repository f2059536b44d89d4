import Datasets
import NeuralNet
import Optimizers

/// The loop every trainer shares: for each batch of each epoch, the batch gradient (through a reduction hook that
/// a data-parallel job fills with an all-reduce), an optional gradient adjustment (e.g. masking), clipping, a
/// finiteness check, one optimizer step at the scheduled rate, an optional update adjustment; then per-step and
/// per-epoch callbacks (progress, evaluation, checkpoints). The loop owns the order of these operations and
/// nothing else: losses, data, noise and what counts as diverged stay with the trainer.
public struct TrainingLoop {
    /// The batches of each epoch.
    public let batcher: Batcher
    /// The learning rate at a global step (0-based).
    public let learningRate: (Int) -> Float
    /// What happens to the complete batch gradient before the update.
    public var clipping: Clipping = .none
    /// Computes the batch gradient into `parameters.gradients` and returns the batch statistics.
    public var gradient: GradientReduction = TrainingLoop.wholeBatch
    /// After the gradient is complete and before clipping (e.g. zero the gradients of pruned weights).
    public var adjustGradients: ((ParameterStore) -> Void)? = nil
    /// After each optimizer step (e.g. zero pruned weights again).
    public var adjustParameters: ((ParameterStore) -> Void)? = nil

    /// Gradient clipping by global L2 norm ‖g‖₂.
    public enum Clipping: Sendable {
        /// No clipping; the reported norm is 0.
        case none
        /// Scale g by min(1, maxNorm/‖g‖₂); the reported norm is ‖g‖₂ before scaling.
        case maxNorm(Float)
        /// No clipping; the reported norm is ‖g‖₂.
        case measure
    }

    /// Makes `parameters.gradients` the gradient of the whole batch of `batch` examples and returns the batch's
    /// `statCount` statistics. `compute(slice)` adds the gradient of the batch positions `slice` (already weighted
    /// by |slice|/batch when the batch is split) and returns that slice's statistics.
    public typealias GradientReduction = (
        _ batch: Int, _ parameters: ParameterStore, _ statCount: Int,
        _ compute: (_ slice: Range<Int>) throws -> [Double]
    ) throws -> [Double]

    /// The whole batch on this process: zero the gradients, compute every position.
    public static func wholeBatch(
        _ batch: Int, _ parameters: ParameterStore, _ statCount: Int,
        _ compute: (_ slice: Range<Int>) throws -> [Double]
    ) throws -> [Double] {
        parameters.zeroGradients()
        return batch > 0 ? try compute(0..<batch) : [Double](repeating: 0, count: statCount)
    }

    /// Where the loop is: epoch, batch within the epoch, global step (before the update), the batch's examples.
    public struct Position {
        public var epoch: Int
        public var batch: Int
        public var step: Int
        public var indices: [Int]
    }

    public init(batcher: Batcher, learningRate: @escaping (Int) -> Float) {
        self.batcher = batcher; self.learningRate = learningRate
    }

    /// Runs `epochs`, advancing the global `step` (stopping before step `stopAtStep` when given, even mid-epoch).
    /// - `compute(position, slice)`: the trainer's forward and backward on `slice` of the batch (see
    ///   `GradientReduction`); returns `statCount` statistics.
    /// - `check(position, statistics, norm)`: throws when the step diverged (before the update).
    /// - `beforeEpoch(epoch)`, `afterStep(position, statistics, norm)`, `afterEpoch(epoch, step, optimizer)`: progress,
    ///   evaluation, checkpoints (with the steps done and the optimizer's state).
    public func run<O: Optimizer>(
        epochs: Range<Int>, step: inout Int, stopAtStep: Int? = nil, parameters: ParameterStore,
        optimizer: inout O, statCount: Int,
        beforeEpoch: (_ epoch: Int) throws -> Void = { _ in },
        compute: (_ position: Position, _ slice: Range<Int>) throws -> [Double],
        check: (_ position: Position, _ statistics: [Double], _ norm: Float) throws -> Void = { _, _, _ in },
        afterStep: (_ position: Position, _ statistics: [Double], _ norm: Float) throws -> Void = { _, _, _ in },
        afterEpoch: (_ epoch: Int, _ step: Int, _ optimizer: O) throws -> Void = { _, _, _ in }
    ) throws {
        for epoch in epochs {
            if let stopAtStep, step >= stopAtStep { break }
            try beforeEpoch(epoch)
            for (i, indices) in batcher.batches(epoch: epoch).enumerated() {
                if let stopAtStep, step >= stopAtStep { break }
                let position = Position(epoch: epoch, batch: i, step: step, indices: indices)
                let statistics = try gradient(indices.count, parameters, statCount) { try compute(position, $0) }
                adjustGradients?(parameters)
                let norm: Float
                switch clipping {
                case .none: norm = 0
                case let .maxNorm(m): norm = clipGradientNorm(&parameters.gradients, maxNorm: m)
                case .measure: norm = globalNorm(parameters.gradients)
                }
                try check(position, statistics, norm)
                optimizer.step(parameters: &parameters.values, gradients: parameters.gradients, learningRate: learningRate(step))
                adjustParameters?(parameters)
                step += 1
                try afterStep(position, statistics, norm)
            }
            try afterEpoch(epoch, step, optimizer)
        }
    }
}
