import Datasets
import Foundation
import NeuralNet
import Optimizers
import TensorCore
import TrainingLoop

/// The steps of randomized pruning (Li et al. 2023, docs/models.md §4) as functions of their inputs: candidate
/// masks, keys, the early score, the winner, the retraining schedule, and masked training of a subject. Nothing
/// here knows about ranks: `PruningProcedure` (Coordinator) spreads the candidates over them, reduces the scores
/// once and broadcasts the winner, and passes the gradient reduction to `trainMasked` as a closure.
public enum PruningAlgorithm {
    /// The mask of candidate `c` of stage `stage`: every prunable matrix `names` of `store` at sparsity `target`,
    /// nested in `previous`. Magnitude: the top-|w| weights; randomized: `MaskGenerator.randomized` with the
    /// candidate's ρ, keyed by (seed, stage, candidate, matrix).
    public static func mask(
        for method: PruningMethod, candidate c: Int, stage: Int, target: Double, previous: MaskSet?,
        store: ParameterStore, names: [String], settings: PruningSettings
    ) -> MaskSet {
        var out: [String: PruningMask] = [:]
        for (i, n) in names.enumerated() {
            let slot = store.slot(named: n)!
            let w = Array(store.values[slot.range])
            let prev = previous?.masks[n]
            let k = keptCount(w.count, sparsity: target)
            let alive = prev?.kept ?? w.count
            let keep = min(k, alive)
            switch method {
            case .magnitude: out[n] = MaskGenerator.magnitude(w, keep: keep, previous: prev)
            case .random, .singleRandom:
                out[n] = MaskGenerator.randomized(
                    w, keep: keep, previous: prev, power: settings.power,
                    rho: settings.rho(candidate: c), seed: settings.seed,
                    stage: stage, candidate: c, matrix: i)
            }
        }
        return MaskSet(masks: out)
    }

    /// The key of training run `run` of stage `stage` (candidate c: run c; its full retraining: 1000 + c; the
    /// winner's retraining: 999): mix(mix(seed, stage + 1), run + 1).
    public static func runKey(seed: UInt64, stage: Int, run: Int) -> UInt64 {
        SplitMix64.mix(SplitMix64.mix(seed, UInt64(stage + 1)), UInt64(run + 1))
    }

    /// Whether the early evaluation validates after `step` (1-based): every `evaluateEvery` steps and after the last.
    public static func validatesAfter(step: Int, settings s: PruningSettings) -> Bool {
        step % s.evaluateEvery == 0 || step == s.earlySteps
    }

    /// The early score: the mean of the last `window` validation accuracies.
    public static func earlyScore(_ evaluations: [Double], window: Int) -> Double {
        evaluations.suffix(window).reduce(0, +) / Double(min(evaluations.count, window))
    }

    /// The winner: the index of the highest score, the lowest index among equals.
    public static func winner(_ scores: [Double]) -> Int {
        var best = 0
        for i in scores.indices where scores[i] > scores[best] { best = i }
        return best
    }

    /// Fraction of `m`'s kept weights (over all matrices) that `reference` prunes.
    public static func difference(_ m: MaskSet, _ reference: MaskSet) -> Double {
        var d = 0, k = 0
        for (n, mask) in m.masks {
            guard let r = reference.masks[n] else { continue }
            for i in 0..<mask.count where mask.keep[i] { k += 1; if !r.keep[i] { d += 1 } }
        }
        return k == 0 ? 0 : Double(d) / Double(k)
    }

    /// The retraining rate at `step`: linear warm-up over the first 10 % of `retrainSteps`, cosine decay to 0.
    public static func retrainRate(step: Int, settings: PruningSettings) -> Float {
        let total = settings.retrainSteps
        let warmup = max(1, total / 10)
        return LearningRateSchedule.cosine(base: settings.learningRate, warmup: warmup, total: total, floor: 0).lr(step: step)
    }

    /// Train `subject` for `steps` steps with `masks` fixed: batches from a `Batcher` keyed by `key`, the batch
    /// gradient from `batchGradient`, masked gradients, optional clipping, an optimizer step at `rate(step)`,
    /// pruned weights zeroed again; `after(step)` runs after each step (1-based).
    public static func trainMasked(
        _ subject: PruningSubject, masks: MaskSet, optimizer: inout any Optimizer, steps: Int,
        key: UInt64, settings s: PruningSettings,
        batchGradient: @escaping TrainingLoop.GradientReduction = TrainingLoop.wholeBatch,
        rate: @escaping (Int) -> Float, after: ((Int) throws -> Void)? = nil
    ) throws {
        let store = subject.parameters
        let batcher = Batcher(
            count: subject.trainingCount, batchSize: min(s.batchSize, subject.trainingCount),
            dropLast: true, shuffle: true, seed: key)
        var loop = TrainingLoop(batcher: batcher, learningRate: rate)
        loop.gradient = batchGradient
        loop.adjustGradients = { masks.maskGradients($0) }
        loop.clipping = subject.clipNorm.map { .maxNorm($0) } ?? .none
        loop.adjustParameters = { masks.apply(to: $0) }
        var step = 0
        try loop.run(
            epochs: 0..<Int.max, step: &step, stopAtStep: steps, parameters: store, optimizer: &optimizer, statCount: 1,
            compute: { position, sl in
                let b = position.indices.count
                let r = try subject.accumulateGradients(examples: Array(position.indices[sl]), key: SplitMix64.mix(key, UInt64(position.step)))
                return [r.loss * Double(sl.count) / Double(b)]
            },
            check: { position, stats, norm in
                guard stats[0].isFinite, norm.isFinite else {
                    throw PruningError.nonFiniteTraining(step: position.step, reason: "loss \(stats[0]) or the gradient is not finite while pruning")
                }
            }, afterStep: { position, _, _ in try after?(position.step + 1) })
    }
}
