import Foundation

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

    public init(
        index: Int, rho: Double?, rank: Int, differenceFromMagnitude: Double, earlyEvaluations: [Double],
        earlyScore: Double, fullScore: Double?
    ) {
        self.index = index; self.rho = rho; self.rank = rank; self.differenceFromMagnitude = differenceFromMagnitude
        self.earlyEvaluations = earlyEvaluations; self.earlyScore = earlyScore; self.fullScore = fullScore
    }
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

    public init(
        stage: Int, targetSparsity: Double, candidates: [PruningCandidateRecord], winner: Int, rankCorrelation: Double?,
        validationAccuracy: Double, testAccuracy: Double, testDetails: [String: Double],
        sparsityPerMatrix: [String: Double], sparsity: Double, keptWeights: Int, prunableWeights: Int,
        selectionSeconds: Double, retrainSeconds: Double, epochs: Double
    ) {
        self.stage = stage; self.targetSparsity = targetSparsity; self.candidates = candidates; self.winner = winner
        self.rankCorrelation = rankCorrelation; self.validationAccuracy = validationAccuracy; self.testAccuracy = testAccuracy
        self.testDetails = testDetails; self.sparsityPerMatrix = sparsityPerMatrix; self.sparsity = sparsity
        self.keptWeights = keptWeights; self.prunableWeights = prunableWeights; self.selectionSeconds = selectionSeconds
        self.retrainSeconds = retrainSeconds; self.epochs = epochs
    }
}

/// The result of a run (on every rank; only the root's accuracies are filled in).
public struct PruningRun: Sendable {
    public var stages: [PruningStageRecord]
    public var masks: MaskSet
    public init(stages: [PruningStageRecord], masks: MaskSet) { self.stages = stages; self.masks = masks }

    public var totalEpochs: Double { stages.reduce(0) { $0 + $1.epochs } }
}
