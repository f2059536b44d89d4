import ArgumentParser
import Coordinator
import Equilibrium
import Foundation

/// `equicert evaluate`: clean accuracy and accuracy under N(0, σ²) noise, with solver statistics.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Clean and noisy test accuracy of a DEQ checkpoint, with solver statistics (text classifiers: accuracy on their split).")
    @Option(help: "Checkpoint (.safetensors).") var model: String
    @Option(help: "Data set: mnist, fashion-mnist, mnist-32x32x3 or cifar10 (default: the checkpoint's).") var data: String?
    @Option(help: "DEQs: write each clean test image's class, solver residual and logits to this TSV.") var outputs: String?
    @Option(help: "Noise σ (default: the checkpoint's training σ).") var sigma: Float?
    @Option(help: "Solver: naive, anderson or broyden.") var solver: SolverKind = .anderson
    @Option(help: "Solver steps.") var steps: Int = 30
    @Option(help: "Test images (0 = all).") var max: Int = 0
    @OptionGroup var text: TextEvaluateOptions
    @OptionGroup var attention: AttentionOptions
    @Option(help: "Seed of the noise.") var seed: UInt64 = 0
    @Option(
        help: "DEQs: OpenBLAS threads (default 1: a multi-threaded GEMM gains ≈ 10 % on an idle machine and collapses on a busy one; BENCHMARKS.md).")
    var threads: Int = 1

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("invalid --threads \(threads): must be ≥ 1") }
    }

    func run() throws {
        try runReportingErrors {
            setBLASThreads(threads)
            var s = EvaluateJob.Settings(model: model, attention: try attention.settings(), calibrationCount: attention.calibrationExamples)
            s.data = data; s.dataDirectory = text.dataDir; s.outputs = outputs; s.max = max; s.sigma = sigma; s.solver = solver; s.steps = steps;
            s.seed = seed
            s.textPart = text.part; s.textMaxLength = text.maxLength; s.textDataDirectory = text.dataDir; s.textBatch = text.evalBatch
            for line in try EvaluateJob(s).run() { print(line) }
        }
    }
}

/// `equicert solver-stats`: residual against f-evaluations for each solver, from zero and warm-started.
struct SolverStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "solver-stats",
        abstract: "Residual vs f-evaluations per solver, from zero and warm-started from another noisy copy's fixed point.")
    @Option(help: "Checkpoint (.safetensors).") var model: String
    @Option(help: "Data set (default: the checkpoint's).") var data: String?
    @Option(help: "Directory of the data set's files (default: searched).") var dataDir: String?
    @Option(help: "Noise σ (default: the checkpoint's).") var sigma: Float?
    @Option(help: "Test images.") var images: Int = 100
    @Option(help: "Solver steps.") var steps: Int = 30
    @Option(help: "Relative residual threshold.") var threshold: Float = 1e-3
    @Option(help: "Seed of the noise.") var seed: UInt64 = 0

    func run() throws {
        try runReportingErrors {
            let loaded = try CheckpointWithTestData(checkpoint: model, data: data, dataDirectory: dataDir)
            guard images >= 1, steps >= 1, threshold > 0 else {
                throw CoordinatorError.invalidOption(
                    name: "images/steps/threshold", value: "\(images)/\(steps)/\(threshold)", reason: "must be positive")
            }
            let curves = SolverStudy.run(
                model: loaded.model, data: loaded.test, images: images, sigma: sigma ?? loaded.provenance.sigma, maxSteps: steps,
                threshold: threshold, seed: seed)
            print(SolverStudy.table(curves, threshold: threshold, at: [1, 2, 3, 5, 8, 12, 20, 30].filter { $0 <= steps + 2 }))
        }
    }
}
