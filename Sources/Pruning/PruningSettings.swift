import Foundation

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

    /// One-line errors for settings out of range, naming the field (`PruningError.invalidSetting`).
    public func validate() throws {
        _ = try SparsitySchedule(schedule)
        func bad(_ n: String, _ v: Any, _ r: String) -> PruningError { .invalidSetting(name: n, value: "\(v)", reason: r) }
        guard candidates >= 1 else { throw bad("candidates", candidates, "must be ≥ 1") }
        guard power.isFinite, power >= 0 else { throw bad("power", power, "must be ≥ 0") }
        guard !rhos.isEmpty, rhos.allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw bad("rhos", rhos, "must be ≥ 0") }
        guard batchSize >= 1 else { throw bad("batchSize", batchSize, "must be ≥ 1") }
        guard learningRate > 0, learningRate.isFinite else { throw bad("learningRate", learningRate, "must be > 0") }
        guard earlySteps >= 1 else { throw bad("earlySteps", earlySteps, "must be ≥ 1") }
        guard earlyLearningRateFactor > 0 else { throw bad("earlyLearningRateFactor", earlyLearningRateFactor, "must be > 0") }
        guard evaluateEvery >= 1 else { throw bad("evaluateEvery", evaluateEvery, "must be ≥ 1") }
        guard scoreWindow >= 1 else { throw bad("scoreWindow", scoreWindow, "must be ≥ 1") }
        guard earlyValidationLimit >= 0 else { throw bad("earlyValidationLimit", earlyValidationLimit, "must be ≥ 0") }
        guard retrainSteps >= 0 else { throw bad("retrainSteps", retrainSteps, "must be ≥ 0") }
    }

    /// Validations recorded per candidate: after steps evaluateEvery, 2·evaluateEvery, … and after the last.
    public var evaluationCount: Int { (earlySteps + evaluateEvery - 1) / evaluateEvery }

    /// Candidates per stage: `candidates` for the randomized method, one mask otherwise.
    public var candidatesPerStage: Int { method == .random ? candidates : 1 }

    /// ρ of candidate c.
    public func rho(candidate c: Int) -> Double { rhos[c % rhos.count] }
}
