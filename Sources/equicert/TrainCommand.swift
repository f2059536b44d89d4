import ArgumentParser
import Coordinator
import Distributed
import Equilibrium
import Foundation

/// `equicert train`: train a DEQ-S with Gaussian noise augmentation; writes a safetensors checkpoint per epoch.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model (DEQ-S) on MNIST or Fashion-MNIST with Gaussian noise augmentation.")

    @Option(help: "Model family: deq-s, mdeq, vit, or minilm (text: --data bbc-news or rt-sentiment).") var model: TrainedModel = .deqS
    @Option(help: "Data set: mnist, fashion-mnist, mnist-32x32x3 (MNIST padded, CIFAR-shaped) or cifar10.") var data: String = "fashion-mnist"
    @Option(help: "MDEQ: preset (tiny, tiny-original, small, large); input shape and classes follow the data set.") var preset: String = "tiny"
    @Option(help: "MDEQ: configuration file overriding the preset (the keys of `equicert import --config`).") var mdeqConfig: String?
    @Option(help: "Gaussian augmentation σ (in [0,1] pixel units).") var sigma: Float = 0.25
    @Option(help: "Epochs.") var epochs: Int = 5
    @Option(help: "Batch size (default 128; minilm 32).") var batch: Int?
    @Option(help: "Adam learning rate (cosine schedule with warm-up; default 1e-3; minilm: AdamW, linear decay, 5e-5).") var lr: Float?
    @Option(help: "Warm-up steps (default 200; minilm 10 % of the steps).") var warmup: Int?
    @Option(help: "Seed (initialisation, shuffling, noise).") var seed: UInt64 = 0
    @Option(help: "State channels C.") var channels: Int = 32
    @Option(help: "Expansion E (conv1: C → E·C).") var expansion: Int = 2
    @Option(help: "GroupNorm groups G.") var groups: Int = 8
    @Option(help: "Head: mean-pool, downsample or flatten.") var head: DEQConfiguration.Head = .meanPool
    @Option(help: "Forward Anderson steps.") var forwardSteps: Int = 18
    @Option(help: "Backward: implicit or phantom.") var backward: BackwardKind = .implicit
    @Option(help: "Adjoint solver steps (implicit) or unrolled steps (phantom).") var backwardSteps: Int = 10
    @Option(help: "Jacobian regularisation weight (0 disables).") var jacobianWeight: Float = 1.0
    @Option(help: "Fraction of steps with the Jacobian regulariser.") var jacobianFraction: Float = 1.0
    @Option(help: "Use only the first N training images (0 = all).") var trainLimit: Int = 0
    @Option(help: "Test images evaluated after each epoch (0 = all).") var evalLimit: Int = 2000
    @Option(name: .shortAndLong, help: "Checkpoint path (.safetensors).") var out: String
    @Flag(help: "Continue from the checkpoint at --out.") var resume = false
    @Flag(help: "Replace an existing checkpoint at --out (without it, or --resume, an existing file is refused).") var force = false
    @Option(help: "Stop once this many epochs are done (the schedule still spans --epochs; continue with --resume).")
    var stopAfterEpochs: Int = 0
    @Option(help: "OpenBLAS threads per rank (default: all cores, or cores/ranks under mpirun).") var threads: Int?
    @Option(help: "auto (data-parallel over MPI when launched by mpirun), off, or mpi.") var distributed: DistributedChoice = .auto
    @OptionGroup var text: TextTrainOptions
    @OptionGroup var vit: ViTTrainOptions

    func run() throws {
        try runDistributed(distributed, threads: threads) { comm in
            if resume && force { throw ValidationError("--resume and --force exclude each other: continue the checkpoint or replace it") }
            try guardOutputs([out], inputs: [text.modelDir.map { $0 + "/model.safetensors" }], force: force, resume: resume, resumeFlag: "--resume")
            switch model {
            case .minilm: try runTextTraining(self, comm: comm); return
            case .vit: try runViTTraining(self, comm: comm); return
            case .deqS, .mdeq: break
            }
            let source = try ImageDataSource(parsing: data)
            let norm = source.normalization
            let config = DEQConfiguration(
                channels: channels, expansion: expansion, groups: groups, head: head,
                normalizationMean: norm.mean, normalizationStd: norm.std)
            try config.validate()
            let mdeq = model == .mdeq ? try mdeqConfiguration(source) : nil
            let fwd = SolverConfig(
                kind: .anderson, maxSteps: forwardSteps, tolerance: 1e-3, stopMode: .relative,
                returnLowestResidual: true)
            let bwd: DEQBackward
            switch backward {
            case .implicit:
                bwd = .implicit(
                    SolverConfig(
                        kind: .anderson, maxSteps: backwardSteps, tolerance: 1e-3,
                        stopMode: .relative, returnLowestResidual: true))
            case .phantom: bwd = .phantom(steps: backwardSteps, damping: 0.5)
            }
            var o = DEQTrainingJob.Options(
                data: source, sigma: sigma, epochs: epochs, configuration: config,
                training: DEQTrainingConfig(
                    forwardSolver: fwd, backward: bwd,
                    jacobianWeight: jacobianWeight),
                output: out)
            o.mdeq = mdeq
            o.batchSize = batch ?? 128; o.learningRate = lr ?? 1e-3; o.warmupSteps = warmup ?? 200; o.seed = seed
            o.jacobianFraction = jacobianFraction; o.trainLimit = trainLimit; o.evalLimit = evalLimit
            o.resume = resume; o.stopAfterEpochs = stopAfterEpochs; o.command = commandLine(); o.codeVersion = EquicertVersion.string
            o.showProgress = comm.rank == 0
            let summary = try DEQTrainingJob(o).run(on: comm) { if comm.rank == 0 { printFlushed($0) } }
            guard comm.rank == 0 else { return }
            print(
                String(
                    format: "trained %@ in %.0f s: test clean %.2f%%, noisy (σ=%.2f) %.2f%%, residual %.2e → %@",
                    model.rawValue, summary.seconds, 100 * summary.cleanAccuracy, sigma, 100 * summary.noisyAccuracy,
                    summary.meanResidual, out))
        }
    }

    /// `--preset` with `--mdeq-config` applied, its input shape, classes and normalisation those of `source`.
    func mdeqConfiguration(_ source: ImageDataSource) throws -> MDEQConfiguration {
        var c = try MDEQConfiguration.preset(preset)
        if let path = mdeqConfig { c = try MDEQConfigFile.read(path).applied(to: c, path: path) }
        let shape = source.imageShape, norm = source.normalization
        c.inputHeight = shape[0]; c.inputWidth = shape[1]; c.inputChannels = shape[2]; c.classes = 10
        if source == .cifar10 {
            c.normalizationMean = MDEQConfiguration.cifarMean; c.normalizationStd = MDEQConfiguration.cifarStd
        } else {
            c.normalizationMean = [Float](repeating: norm.mean, count: shape[2])
            c.normalizationStd = [Float](repeating: norm.std, count: shape[2])
        }
        try c.validate()
        return c
    }
}
