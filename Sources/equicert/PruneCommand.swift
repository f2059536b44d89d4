import ArgumentParser
import Coordinator
import Distributed
import Foundation
import Pruning

/// `equicert prune`: iterative pruning of a DEQ-S or MiniLM text classifier with randomized mask generation and
/// selection (docs/models.md §4), or the two baselines, candidates spread over the ranks.
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Prune a DEQ-S or MiniLM classifier: random masks + early evaluation + selection, magnitude IMP, or one random mask.",
        discussion: """
            Each stage prunes every prunable matrix (DEQ-S: the block and injection convolutions; MiniLM: the encoder's \
            Q, K, V, attention-output and FFN matrices) to the stage's sparsity, nested in the previous masks. \
            --method random draws --candidates masks (p ∝ |w|^power, M Gumbel-top-k draws), trains each briefly at a \
            raised learning rate and keeps the best by validation accuracy; the winner is retrained from the pre-stage \
            state. Under mpirun the candidates of a stage are spread over the ranks and retraining is data-parallel. \
            Selection uses a validation part never used for training (DEQ-S: held out of the training set; MiniLM: the \
            checkpoint's split); the test accuracy is only reported.
            """)

    @Option(help: "Checkpoint to prune (DEQ-S or MiniLM classifier).") var model: String
    @Option(help: "DEQ-S: mnist or fashion-mnist (default: the checkpoint's data).") var data: String?
    @Option(help: "Sparsities after each stage, increasing, e.g. 0.5,0.75,0.9,0.95, or cubic:FINAL:STAGES.")
    var schedule: String = "0.5,0.75,0.9,0.95"
    @Option(help: "random (masks + selection), magnitude (IMP) or single-random (one random mask, no selection).")
    var method: PruningMethod = .random
    @Option(help: "Candidate masks per stage (method random).") var candidates: Int = 8
    @Option(help: "Keep-probability exponent: p ∝ |w|^power.") var power: Double = 5
    @Option(help: "ρ values cycled over the candidates (M = max(⌊(n − k)ρ⌋, 1)).") var rho: String = "5e-5,1e-4,8e-5,3e-4"
    @Option(help: "Seed (masks, batches, noise, validation hold-out).") var seed: UInt64 = 0
    @Option(help: "Batch size (default: DEQ-S 128, MiniLM 32).") var batch: Int?
    @Option(help: "Base learning rate (default: DEQ-S 1e-4, MiniLM 5e-5).") var lr: Float?
    @Option(help: "Early-evaluation steps per candidate.") var earlySteps: Int = 100
    @Option(help: "Early-evaluation learning rate = lr × this.") var earlyLrFactor: Float = 4
    @Option(help: "Validate every this many early steps.") var evaluateEvery: Int = 25
    @Option(help: "Score = mean of the last this many validations.") var scoreWindow: Int = 4
    @Option(help: "Validation examples per early validation (0 = all).") var earlyValidation: Int = 0
    @Option(help: "Retraining steps of the winner per stage.") var retrainSteps: Int = 300
    @Flag(help: "Also retrain every candidate fully (rank correlation of early vs full evaluation; K× the cost).")
    var fullEvaluation = false
    @Flag(help: "Retrain the winner data-parallel over the ranks (faster; equal to one process only up to rounding).")
    var parallelRetrain = false
    @Flag(help: "Distil from the unpruned model (soft cross-entropy + hidden-state MSE).") var distill = false
    @Option(help: "Distillation: weight of the soft cross-entropy (hard CE gets 1 − this).") var distillSoft: Float = 0.5
    @Option(help: "Distillation: weight of the hidden-state MSE.") var distillHidden: Float = 1
    @Option(help: "Distillation temperature.") var distillTemperature: Float = 2
    @Option(help: "DEQ-S: training images held out for selection.") var validation: Int = 5000
    @Option(help: "Training examples used (0 = all; a seeded subset).") var trainLimit: Int = 0
    @Option(help: "Test examples evaluated (0 = all; a prefix).") var testLimit: Int = 0
    @Option(name: .shortAndLong, help: "Pruned checkpoint (.safetensors; weights + masks).") var out: String
    @Option(help: "Report path without extension (default: <out>.pruning → .json and .md).") var report: String?
    @Option(help: "In-process ranks without MPI (candidates in parallel).") var workers: Int = 1
    @Option(help: "OpenBLAS threads per rank (default 1).") var threads: Int?
    @Option(help: "auto (MPI when launched by mpirun), off, or mpi.") var distributed: DistributedChoice = .auto
    @Flag(help: "Replace an existing checkpoint at --out and its pruning report.") var force = false

    func validate() throws {
        guard workers >= 1 else { throw ValidationError("invalid --workers \(workers): must be ≥ 1") }
    }

    func run() throws {
        try runDistributed(distributed, threads: threads ?? 1, workers: workers) { comm in
            setBLASThreads(threads ?? 1)
            let reportBase = report ?? beside(out, dropping: ".safetensors", adding: ".pruning")
            try guardOutputs([out, reportBase + ".json", reportBase + ".md"], inputs: [model], force: force)
            let stages = try SparsitySchedule(parsing: schedule).stages
            let rhos = rho.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard !rhos.isEmpty, rhos.allSatisfy({ $0 != nil }) else {
                throw CoordinatorError.invalidOption(name: "rho", value: rho, reason: "expected numbers, comma-separated")
            }
            let isText = TextCheckpoint.isTextClassifier(model)
            var s = PruningSettings(schedule: stages, method: method)
            s.candidates = candidates; s.power = power; s.rhos = rhos.map { $0! }; s.seed = seed
            s.batchSize = batch ?? (isText ? 32 : 128); s.learningRate = lr ?? (isText ? 5e-5 : 1e-4)
            s.earlySteps = earlySteps; s.earlyLearningRateFactor = earlyLrFactor; s.evaluateEvery = evaluateEvery
            s.scoreWindow = scoreWindow; s.earlyValidationLimit = earlyValidation; s.retrainSteps = retrainSteps
            s.fullEvaluation = fullEvaluation; s.dataParallelRetrain = parallelRetrain
            var o = PruneJob.Options(model: model, settings: s, output: out)
            o.data = try data.map { try ImageDataSource(parsing: $0) }
            o.distillation =
                distill
                ? PruningDistillation(
                    softWeight: distillSoft, hiddenWeight: distillHidden,
                    temperature: distillTemperature) : nil
            o.validationCount = validation; o.trainLimit = trainLimit; o.testLimit = testLimit; o.report = report
            o.command = commandLine(); o.codeVersion = EquicertVersion.string
            let r = try PruneJob(o).run(on: comm) { if comm.rank == 0 { printFlushed($0) } }
            guard comm.rank == 0, let last = r.stages.last else { return }
            print(
                String(
                    format: "pruned to %.2f %% sparsity (%d → %d non-zero parameters): test %.2f %% (before %.2f %%), %.1f epochs, %.0f s → %@",
                    100 * last.sparsity, r.nonZeroBefore, r.nonZeroAfter, 100 * last.testAccuracy,
                    100 * r.denseTestAccuracy, r.totalEpochs, r.seconds, out))
        }
    }
}
