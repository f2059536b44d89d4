import Datasets
import Distributed
import Foundation
import NeuralNet
import Optimizers
import Pruning
import Statistics
import TensorCore

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

/// How a stage's mask is chosen.
public enum PruningMethod: String, Sendable, Codable, CaseIterable {
    /// K randomized masks per stage, early evaluation of each, the best retrained (the paper's method).
    case random
    /// Deterministic magnitude IMP: the top-|w| mask, retrained.
    case magnitude
    /// One randomized mask per stage (candidate 0's), retrained without any selection.
    case singleRandom = "single-random"
}

/// Settings of `PruningProcedure` (defaults: docs/models.md §4, scaled by the caller).
public struct PruningSettings: Sendable, Codable {
    public var schedule: [Double]
    public var method: PruningMethod
    /// Candidates per stage (method `random`).
    public var candidates: Int = 8
    /// Keep-probability p ∝ |w|^power.
    public var power: Double = 5
    /// ρ of candidate c is rhos[c mod count]; M = max(⌊(n − k)·ρ⌋, 1).
    public var rhos: [Double] = publishedRhos
    public var seed: UInt64 = 0
    public var batchSize: Int = 32
    public var learningRate: Float = 5e-5
    /// Early evaluation: this many steps at learningRate × earlyLearningRateFactor (constant).
    public var earlySteps: Int = 100
    public var earlyLearningRateFactor: Float = 4
    /// Validate every this many early steps (and after the last); score = mean of the last `scoreWindow`.
    public var evaluateEvery: Int = 50
    public var scoreWindow: Int = 10
    /// Validation examples per periodic evaluation (0 = the whole validation part).
    public var earlyValidationLimit: Int = 0
    /// Retraining of the winner: this many steps, linear warm-up over the first 10 %, cosine decay to 0.
    public var retrainSteps: Int = 500
    /// Also retrain EVERY candidate fully and record its validation accuracy (the rank correlation between early
    /// and full evaluation; costs K retrainings per stage).
    public var fullEvaluation: Bool = false
    /// Retrain the winner data-parallel over the ranks (faster; the result then equals the single-process one only
    /// up to rounding, since the batch gradient is summed in another order). Default: every rank retrains the
    /// winner identically on its own, so the pruned model is bit-identical at any rank count.
    public var dataParallelRetrain: Bool = false

    public init(schedule: [Double], method: PruningMethod) { self.schedule = schedule; self.method = method }

    /// One-line errors for settings out of range.
    public func validate() throws {
        _ = try SparsitySchedule(schedule)
        func bad(_ n: String, _ v: Any, _ r: String) -> Error { CoordinatorError.invalidOption(name: n, value: "\(v)", reason: r) }
        guard candidates >= 1 else { throw bad("candidates", candidates, "must be ≥ 1") }
        guard power.isFinite, power >= 0 else { throw bad("power", power, "must be ≥ 0") }
        guard !rhos.isEmpty, rhos.allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw bad("rho", rhos, "must be ≥ 0") }
        guard batchSize >= 1 else { throw bad("batch", batchSize, "must be ≥ 1") }
        guard learningRate > 0, learningRate.isFinite else { throw bad("lr", learningRate, "must be > 0") }
        guard earlySteps >= 1 else { throw bad("early-steps", earlySteps, "must be ≥ 1") }
        guard earlyLearningRateFactor > 0 else { throw bad("early-lr-factor", earlyLearningRateFactor, "must be > 0") }
        guard evaluateEvery >= 1 else { throw bad("evaluate-every", evaluateEvery, "must be ≥ 1") }
        guard scoreWindow >= 1 else { throw bad("score-window", scoreWindow, "must be ≥ 1") }
        guard earlyValidationLimit >= 0 else { throw bad("early-validation", earlyValidationLimit, "must be ≥ 0") }
        guard retrainSteps >= 0 else { throw bad("retrain-steps", retrainSteps, "must be ≥ 0") }
    }
}

/// One candidate of a stage, as evaluated.
public struct PruningCandidateRecord: Sendable, Codable {
    public var index: Int
    public var rho: Double?
    /// The rank that evaluated it.
    public var rank: Int
    /// Fraction of its kept weights that the magnitude mask of the same stage prunes.
    public var differenceFromMagnitude: Double
    /// Validation accuracies of the early evaluation, in order; score = mean of the last `scoreWindow`.
    public var earlyEvaluations: [Double]
    public var earlyScore: Double
    /// Validation accuracy after full retraining (only with `fullEvaluation`).
    public var fullScore: Double?
}

/// What one stage did.
public struct PruningStageRecord: Sendable, Codable {
    public var stage: Int
    public var targetSparsity: Double
    public var candidates: [PruningCandidateRecord]
    public var winner: Int
    /// Spearman correlation of early scores against full scores (with `fullEvaluation` and ≥ 3 candidates).
    public var rankCorrelation: Double?
    /// After retraining the winner (root's evaluation).
    public var validationAccuracy: Double
    public var testAccuracy: Double
    public var testDetails: [String: Double]
    /// Sparsity reached, per matrix and over all pruned matrices.
    public var sparsityPerMatrix: [String: Double]
    public var sparsity: Double
    public var keptWeights: Int
    public var prunableWeights: Int
    public var selectionSeconds: Double
    public var retrainSeconds: Double
    /// Cost in epochs over the training part: every candidate's early (and full) training plus the retraining.
    public var epochs: Double
}

/// The result of a run (on every rank; only the root's accuracies are filled in).
public struct PruningRun: Sendable {
    public var stages: [PruningStageRecord]
    public var masks: MaskSet
    public var totalEpochs: Double { stages.reduce(0) { $0 + $1.epochs } }
}

/// Iterative pruning with randomized mask generation and selection (Li et al. 2023, docs/models.md §4).
///
/// Per stage s with target sparsity s_t: from the pre-stage state (weights W, optimizer state O, masks m), the
/// candidate masks (nested in m, every prunable matrix at s_t) are a pure function of (seed, stage, candidate);
/// candidate c is evaluated by rank c mod R: restore (W, O), fix the mask, train `earlySteps` at the raised rate,
/// validate every `evaluateEvery` steps, score = mean of the last `scoreWindow` validations. Scores are summed
/// over ranks (each candidate has exactly one evaluator), the root's arg-max (lowest index on ties) is broadcast,
/// and every rank retrains the winner from (W, O) — identically on its own (default: bit-identical results at any
/// rank count) or data-parallel (`dataParallelRetrain`) — so every rank ends the stage with the same state.
/// Pruned weights stay zero: their gradients are zeroed before and the weights again after each optimizer step.
public struct PruningProcedure {
    public let settings: PruningSettings
    public init(_ settings: PruningSettings) { self.settings = settings }

    /// `log` gets the stage lines (root); `candidateLog` a line per candidate from the rank that evaluated it.
    public func run(_ subject: PruningSubject, comm: any Communicator = SingleProcessCommunicator(),
                    initialMasks: MaskSet? = nil, log: (String) -> Void = { _ in },
                    candidateLog: (String) -> Void = { _ in }) throws -> PruningRun {
        let s = settings
        try s.validate()
        let store = subject.parameters
        let names = PrunableMatrices.names(in: store)
        guard !names.isEmpty else { throw PruningError.nothingToPrune(model: "the model") }
        guard subject.trainingCount >= 1 else {
            throw CoordinatorError.invalidOption(name: "data", value: "\(subject.trainingCount)", reason: "no training examples")
        }
        var masks = try MaskSet(dense: names, in: store)
        if let initialMasks {
            try initialMasks.validate(against: store)
            for (n, m) in initialMasks.masks where masks.masks[n] != nil { masks.masks[n] = m }
        }
        masks.apply(to: store)
        let isRoot = comm.rank == 0
        var optimizer = try subject.makeOptimizer()
        var records: [PruningStageRecord] = []
        let batchesPerEpoch = Double(subject.trainingCount) / Double(s.batchSize)

        for (stage, target) in s.schedule.enumerated() {
            if let already = masks.masks.values.map(\.sparsity).max(), already > target + 1e-12 {
                throw CoordinatorError.invalidOption(name: "schedule", value: "\(target)",
                                                     reason: "stage \(stage + 1) is below the sparsity the masks already have (\(already))")
            }
            let preValues = store.values
            let preOptimizer = optimizer.stepCount > 0 ? optimizer.state() : nil
            func restore() throws -> any Optimizer {
                store.values = preValues
                var o = try subject.makeOptimizer()
                if let preOptimizer { try o.restore(preOptimizer, parameterCount: store.count) }
                return o
            }
            let magnitude = mask(for: .magnitude, candidate: 0, stage: stage, target: target, previous: masks, store: store, names: names)
            let count = s.method == .random ? s.candidates : 1
            let t0 = Date()
            var evaluations = [[Double]](repeating: [], count: count)
            var early = [Double](repeating: 0, count: count)
            var full = [Double](repeating: 0, count: count)
            var differences = [Double](repeating: 0, count: count)
            var epochs = 0.0
            if count > 1 {
                if isRoot { log("stage \(stage + 1)/\(s.schedule.count): sparsity \(fmt(target)), \(count) candidates over \(comm.size) rank(s)") }
                let local = SingleProcessCommunicator()
                let slots = evaluationCount
                var series = [Double](repeating: 0, count: count * slots)
                for c in ShardPlan.items(count, forRankOf: comm, layout: .strided) {
                    var o = try restore()
                    let m = mask(for: .random, candidate: c, stage: stage, target: target, previous: masks, store: store, names: names)
                    differences[c] = difference(m, magnitude)
                    m.apply(to: store)
                    let tc = Date()
                    var evals: [Double] = []
                    try train(subject, masks: m, optimizer: &o, steps: s.earlySteps, key: runKey(stage: stage, run: c),
                              comm: local, rate: { _ in s.learningRate * s.earlyLearningRateFactor }) { step in
                        if step % s.evaluateEvery == 0 || step == s.earlySteps {
                            evals.append(try subject.evaluate(.validation, limit: s.earlyValidationLimit).accuracy)
                        }
                    }
                    let score = evals.suffix(s.scoreWindow).reduce(0, +) / Double(min(evals.count, s.scoreWindow))
                    for (j, v) in evals.enumerated() { series[c * slots + j] = v }
                    early[c] = score
                    var line = String(format: "  candidate %d (rank %d, ρ %.0e): early score %.4f after %d steps (%.0f s)",
                                      c, comm.rank, s.rhos[c % s.rhos.count], score, s.earlySteps, Date().timeIntervalSince(tc))
                    if s.fullEvaluation {
                        var of = try restore()
                        m.apply(to: store)
                        try train(subject, masks: m, optimizer: &of, steps: s.retrainSteps, key: runKey(stage: stage, run: 1000 + c),
                                  comm: local, rate: retrainRate)
                        full[c] = try subject.evaluate(.validation, limit: 0).accuracy
                        line += String(format: ", fully trained %.4f", full[c])
                    }
                    // Progress from every rank (a candidate is logged where it runs).
                    candidateLog(line)
                }
                try comm.allReduce(&early, op: .sum)
                try comm.allReduce(&full, op: .sum)
                try comm.allReduce(&series, op: .sum)
                try comm.allReduce(&differences, op: .sum)
                evaluations = (0..<count).map { c in Array(series[(c * slots)..<(c * slots + slots)]) }
                epochs += Double(count * s.earlySteps) / batchesPerEpoch
                if s.fullEvaluation { epochs += Double(count * s.retrainSteps) / batchesPerEpoch }
            }
            var winner = [Int64(count > 1 ? argmax(early) : 0)]
            try comm.broadcast(&winner, root: 0)
            let w = Int(winner[0])
            let selectionSeconds = Date().timeIntervalSince(t0)

            // Retrain the winner from the pre-stage state, data-parallel over all ranks.
            let t1 = Date()
            optimizer = try restore()
            let chosen = s.method == .magnitude ? magnitude
                : mask(for: .random, candidate: w, stage: stage, target: target, previous: masks, store: store, names: names)
            if count == 1 { differences[0] = difference(chosen, magnitude) }
            chosen.apply(to: store)
            try train(subject, masks: chosen, optimizer: &optimizer, steps: s.retrainSteps, key: runKey(stage: stage, run: 999),
                      comm: s.dataParallelRetrain ? comm : SingleProcessCommunicator(), rate: retrainRate)
            epochs += Double(s.retrainSteps) / batchesPerEpoch
            masks = chosen
            let retrainSeconds = Date().timeIntervalSince(t1)

            var val = 0.0, test = 0.0, details: [String: Double] = [:]
            if isRoot {
                val = try subject.evaluate(.validation, limit: 0).accuracy
                let t = try subject.evaluate(.test, limit: 0)
                test = t.accuracy; details = t.details
            }
            let candidates = (0..<count).map { c -> PruningCandidateRecord in
                PruningCandidateRecord(index: c, rho: s.method == .magnitude ? nil : s.rhos[c % s.rhos.count],
                                       rank: count > 1 ? ShardPlan(itemCount: count, over: comm, layout: .strided).shard(ofItem: c) : 0,
                                       differenceFromMagnitude: differences[c],
                                       earlyEvaluations: count > 1 ? evaluations[c] : [],
                                       earlyScore: early[c], fullScore: s.fullEvaluation && count > 1 ? full[c] : nil)
            }
            let perMatrix = Dictionary(uniqueKeysWithValues: masks.masks.map { ($0.key, $0.value.sparsity) })
            let record = PruningStageRecord(
                stage: stage + 1, targetSparsity: target, candidates: candidates, winner: w,
                rankCorrelation: s.fullEvaluation && count >= 3 ? spearman(early, full) : nil,
                validationAccuracy: val, testAccuracy: test, testDetails: details, sparsityPerMatrix: perMatrix,
                sparsity: masks.sparsity, keptWeights: masks.kept, prunableWeights: masks.total,
                selectionSeconds: selectionSeconds, retrainSeconds: retrainSeconds, epochs: epochs)
            records.append(record)
            if isRoot {
                log(String(format: "stage %d/%d: sparsity %@ reached %@, winner %d, validation %.4f, test %.4f (selection %.0f s, retrain %.0f s, %.2f epochs)",
                           stage + 1, s.schedule.count, fmt(target), fmt(masks.sparsity), w, val, test, selectionSeconds,
                           retrainSeconds, epochs))
            }
        }
        return PruningRun(stages: records, masks: masks)
    }

    /// Validations recorded per candidate: after steps evaluateEvery, 2·evaluateEvery, … and after the last.
    var evaluationCount: Int { (settings.earlySteps + settings.evaluateEvery - 1) / settings.evaluateEvery }

    func retrainRate(_ step: Int) -> Float {
        let total = settings.retrainSteps
        let warmup = max(1, total / 10)
        return LearningRateSchedule.cosine(base: settings.learningRate, warmup: warmup, total: total, floor: 0).lr(step: step)
    }

    /// The mask of candidate `c` of a stage: every prunable matrix at `target`, nested in `previous`.
    func mask(for method: PruningMethod, candidate c: Int, stage: Int, target: Double, previous: MaskSet?,
              store: ParameterStore, names: [String]) -> MaskSet {
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
                out[n] = MaskGenerator.randomized(w, keep: keep, previous: prev, power: settings.power,
                                                  rho: settings.rhos[c % settings.rhos.count], seed: settings.seed,
                                                  stage: stage, candidate: c, matrix: i)
            }
        }
        return MaskSet(masks: out)
    }

    /// Train `steps` steps with masked updates; `after(step)` runs after each step (1-based).
    func train(_ subject: PruningSubject, masks: MaskSet, optimizer: inout any Optimizer, steps: Int, key: UInt64,
               comm: any Communicator, rate: (Int) -> Float, after: ((Int) throws -> Void)? = nil) throws {
        let s = settings
        let store = subject.parameters
        let batcher = Batcher(count: subject.trainingCount, batchSize: min(s.batchSize, subject.trainingCount),
                              dropLast: true, shuffle: true, seed: key)
        var step = 0, epoch = 0
        while step < steps {
            for indices in batcher.batches(epoch: epoch) {
                if step == steps { break }
                let b = indices.count
                let stats = try DataParallel.step(comm, batch: b, parameters: store, statCount: 1) { sl in
                    let r = try subject.accumulateGradients(examples: Array(indices[sl]), key: mix(key, UInt64(step)))
                    return [r.loss * Double(sl.count) / Double(b)]
                }
                masks.maskGradients(store)
                let norm = subject.clipNorm.map { clipGradientNorm(&store.gradients, maxNorm: $0) } ?? 0
                guard stats[0].isFinite, norm.isFinite else {
                    throw CoordinatorError.nonFiniteTraining(step: step, reason: "loss \(stats[0]) or the gradient is not finite while pruning")
                }
                optimizer.step(parameters: &store.values, gradients: store.gradients, learningRate: rate(step))
                masks.apply(to: store)
                step += 1
                try after?(step)
            }
            epoch += 1
        }
    }

    func runKey(stage: Int, run: Int) -> UInt64 { mix(mix(settings.seed, UInt64(stage + 1)), UInt64(run + 1)) }
}

/// Keys of stages, runs and steps: `SplitMix64.mix(a, b)`.
func mix(_ a: UInt64, _ b: UInt64) -> UInt64 { SplitMix64.mix(a, b) }

/// Index of the largest value (the lowest index among equals).
func argmax(_ v: [Double]) -> Int {
    var best = 0
    for i in v.indices where v[i] > v[best] { best = i }
    return best
}

/// Fraction of `m`'s kept weights (over all matrices) that `reference` prunes.
func difference(_ m: MaskSet, _ reference: MaskSet) -> Double {
    var d = 0, k = 0
    for (n, mask) in m.masks {
        guard let r = reference.masks[n] else { continue }
        for i in 0..<mask.count where mask.keep[i] { k += 1; if !r.keep[i] { d += 1 } }
    }
    return k == 0 ? 0 : Double(d) / Double(k)
}

private func fmt(_ x: Double) -> String { String(format: "%.4g", x) }
