import Datasets
import Distributed
import Foundation
import NeuralNet
import Optimizers
import Pruning
import Statistics
import TensorCore

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
    public func run(
        _ subject: PruningSubject, comm: any Communicator = SingleProcessCommunicator(),
        initialMasks: MaskSet? = nil, log: (String) -> Void = { _ in },
        candidateLog: (String) -> Void = { _ in }
    ) throws -> PruningRun {
        let s = settings
        do { try s.validate() } catch let PruningError.invalidSetting(name, value, reason) {
            throw CoordinatorError.invalidOption(name: Self.option(forSetting: name), value: value, reason: reason)
        }
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
                throw CoordinatorError.invalidOption(
                    name: "schedule", value: "\(target)",
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
            func mask(_ method: PruningMethod, candidate c: Int) -> MaskSet {
                PruningAlgorithm.mask(
                    for: method, candidate: c, stage: stage, target: target, previous: masks, store: store,
                    names: names, settings: s)
            }
            let magnitude = mask(.magnitude, candidate: 0)
            let count = s.candidatesPerStage
            let t0 = Date()
            var evaluations = [[Double]](repeating: [], count: count)
            var early = [Double](repeating: 0, count: count)
            var full = [Double](repeating: 0, count: count)
            var differences = [Double](repeating: 0, count: count)
            var epochs = 0.0
            if count > 1 {
                if isRoot { log("stage \(stage + 1)/\(s.schedule.count): sparsity \(fmt(target)), \(count) candidates over \(comm.size) rank(s)") }
                let slots = s.evaluationCount
                var series = [Double](repeating: 0, count: count * slots)
                for c in ShardPlan.items(count, forRankOf: comm, layout: .strided) {
                    var o = try restore()
                    let m = mask(.random, candidate: c)
                    differences[c] = PruningAlgorithm.difference(m, magnitude)
                    m.apply(to: store)
                    let tc = Date()
                    var evals: [Double] = []
                    try PruningAlgorithm.trainMasked(
                        subject, masks: m, optimizer: &o, steps: s.earlySteps,
                        key: runKey(stage: stage, run: c), settings: s,
                        rate: { _ in s.learningRate * s.earlyLearningRateFactor }
                    ) { step in
                        if PruningAlgorithm.validatesAfter(step: step, settings: s) {
                            evals.append(try subject.evaluate(.validation, limit: s.earlyValidationLimit).accuracy)
                        }
                    }
                    let score = PruningAlgorithm.earlyScore(evals, window: s.scoreWindow)
                    for (j, v) in evals.enumerated() { series[c * slots + j] = v }
                    early[c] = score
                    var line = String(
                        format: "  candidate %d (rank %d, ρ %.0e): early score %.4f after %d steps (%.0f s)",
                        c, comm.rank, s.rho(candidate: c), score, s.earlySteps, Date().timeIntervalSince(tc))
                    if s.fullEvaluation {
                        var of = try restore()
                        m.apply(to: store)
                        try PruningAlgorithm.trainMasked(
                            subject, masks: m, optimizer: &of, steps: s.retrainSteps,
                            key: runKey(stage: stage, run: 1000 + c), settings: s,
                            rate: retrainRate)
                        full[c] = try subject.evaluate(.validation, limit: 0).accuracy
                        line += String(format: ", fully trained %.4f", full[c])
                    }
                    // Progress from every rank (a candidate is logged where it runs).
                    candidateLog(line)
                }
                // One reduction: every slot has exactly one evaluating rank, the others add zeros.
                var reduced = early + full + series + differences
                try comm.allReduce(&reduced, op: .sum)
                early = Array(reduced[0..<count]); full = Array(reduced[count..<(2 * count)])
                series = Array(reduced[(2 * count)..<(2 * count + count * slots)])
                differences = Array(reduced[(2 * count + count * slots)...])
                evaluations = (0..<count).map { c in Array(series[(c * slots)..<(c * slots + slots)]) }
                epochs += Double(count * s.earlySteps) / batchesPerEpoch
                if s.fullEvaluation { epochs += Double(count * s.retrainSteps) / batchesPerEpoch }
            }
            var winner = [Int64(count > 1 ? PruningAlgorithm.winner(early) : 0)]
            try comm.broadcast(&winner, root: 0)
            let w = Int(winner[0])
            let selectionSeconds = Date().timeIntervalSince(t0)

            // Retrain the winner from the pre-stage state, data-parallel over all ranks.
            let t1 = Date()
            optimizer = try restore()
            let chosen = s.method == .magnitude ? magnitude : mask(.random, candidate: w)
            if count == 1 { differences[0] = PruningAlgorithm.difference(chosen, magnitude) }
            chosen.apply(to: store)
            let retrainComm: any Communicator = s.dataParallelRetrain ? comm : SingleProcessCommunicator()
            try PruningAlgorithm.trainMasked(
                subject, masks: chosen, optimizer: &optimizer, steps: s.retrainSteps,
                key: runKey(stage: stage, run: 999), settings: s,
                batchGradient: DataParallel.reduction(over: retrainComm), rate: retrainRate)
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
                PruningCandidateRecord(
                    index: c, rho: s.method == .magnitude ? nil : s.rho(candidate: c),
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
                log(
                    String(
                        format:
                            "stage %d/%d: sparsity %@ reached %@, winner %d, validation %.4f, test %.4f (selection %.0f s, retrain %.0f s, %.2f epochs)",
                        stage + 1, s.schedule.count, fmt(target), fmt(masks.sparsity), w, val, test, selectionSeconds,
                        retrainSeconds, epochs))
            }
        }
        return PruningRun(stages: records, masks: masks)
    }

    func retrainRate(_ step: Int) -> Float { PruningAlgorithm.retrainRate(step: step, settings: settings) }

    func runKey(stage: Int, run: Int) -> UInt64 { PruningAlgorithm.runKey(seed: settings.seed, stage: stage, run: run) }

    /// The `prune` option that sets a `PruningSettings` field (the settings name fields, the job names options).
    public static func option(forSetting name: String) -> String {
        let options = [
            "rhos": "rho", "batchSize": "batch", "learningRate": "lr", "earlySteps": "early-steps",
            "earlyLearningRateFactor": "early-lr-factor", "evaluateEvery": "evaluate-every",
            "scoreWindow": "score-window", "earlyValidationLimit": "early-validation", "retrainSteps": "retrain-steps",
        ]
        return options[name] ?? name
    }
}

private func fmt(_ x: Double) -> String { String(format: "%.4g", x) }
