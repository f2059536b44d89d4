import ArgumentParser
import Coordinator
import Datasets
import Distillation
import Distributed
import Foundation
import NeuralNet
import TensorCore

/// `equicert distill`: build a distilled set (baselines for now) and write it with a PNG grid.
struct DistillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill",
        abstract:
            "Distil a data set to a few images per class (d4m, random, herding, kmeans-pixel, centroid-decode, noise); writes one .safetensors file and a PNG grid.",
        discussion: """
            d4m: per class, k-means prototypes in the latent space of an autoencoder, then image-to-image from each \
            prototype with a class-conditional latent diffusion model (--strength, --steps, --guidance), decoded. \
            centroid-decode decodes the prototypes without diffusion; noise generates from pure noise. The autoencoder \
            and the denoiser are trained on the training set when their files do not exist, and reused when they do. \
            Under mpirun the classes are spread over the ranks; the set is identical at any rank count.
            """)

    @Option(help: "Data set: mnist or fashion-mnist.") var data: String = "mnist"
    @Option(help: "Images per class (≥ 1, at most the smallest class).") var ipc: Int = 10
    @Option(help: "Method: d4m, random, herding (raw pixels), kmeans-pixel, centroid-decode or noise.") var method: String = "random"
    @Option(help: "Autoencoder checkpoint (generative methods): trained and saved here when absent (default Models/ae-<data>.safetensors).")
    var autoencoder: String?
    @Option(help: "Autoencoder training epochs (when it has to be trained).") var aeEpochs: Int = 5
    @Option(help: "Denoiser checkpoint (d4m, noise): trained and saved here when absent (default Models/denoiser-<data>.safetensors).")
    var denoiser: String?
    @Option(help: "Denoiser training epochs (when it has to be trained).") var denoiserEpochs: Int = 30
    @Option(help: "Denoiser width (channels of its residual blocks; when it has to be trained).") var denoiserWidth: Int = 64
    @Option(help: "Image-to-image strength: the fraction of the --steps schedule that noises each prototype.") var strength: Double = 0.7
    @Option(help: "DDIM sampling steps.") var steps: Int = 50
    @Option(help: "Classifier-free guidance scale w (ε_u + w(ε_c − ε_u)).") var guidance: Float = 2
    @Option(help: "Generative methods: use only the first N training images (autoencoder, denoiser, prototypes; 0 = all).")
    var trainLimit: Int = 0
    @Option(help: "auto (classes over MPI ranks when launched by mpirun), off, or mpi.") var distributed: DistributedChoice = .auto
    @Option(help: "Seed of the method.") var seed: UInt64 = 0
    @Option(name: .shortAndLong, help: "Output set (.safetensors).") var out: String
    @Option(help: "PNG grid path (default: the output path with .png).") var grid: String?
    @Option(help: "Teacher checkpoint for soft labels: trained on the real training set and saved here when absent.")
    var teacher: String?
    @Option(help: "Teacher architecture: convnet or mlp.") var teacherArch: StudentArchitecture = .convnet
    @Option(help: "Teacher training epochs (when it has to be trained).") var teacherEpochs: Int = 3
    @Option(help: "Soft-label temperature T (softmax(z/T)).") var temperature: Float = 20
    @Option(help: "OpenBLAS threads (default: all cores).") var threads: Int?
    @Flag(help: "Replace an existing set (and its PNG grid).") var force = false

    /// Before any work: the set and its grid are new (or --force), and neither is one of the checkpoints read.
    func guardOutputFiles() throws {
        try guardOutputs(
            [out, grid ?? beside(out, dropping: ".safetensors", adding: ".png")],
            inputs: [teacher, autoencoder, denoiser], force: force)
    }

    func settings() throws -> DistillJob.Settings {
        var s = DistillJob.Settings(data: try ImageDataSource(parsing: data), method: method, output: out)
        s.ipc = ipc; s.seed = seed
        s.autoencoder = autoencoder; s.autoencoderEpochs = aeEpochs
        s.denoiser = denoiser; s.denoiserEpochs = denoiserEpochs; s.denoiserWidth = denoiserWidth
        s.strength = strength; s.steps = steps; s.guidance = guidance; s.trainLimit = trainLimit
        s.grid = grid; s.teacher = teacher; s.teacherArchitecture = teacherArch.rawValue; s.teacherEpochs = teacherEpochs
        s.temperature = temperature; s.command = commandLine()
        return s
    }

    func run() throws {
        if GenerativeMethod(rawValue: method) != nil {
            try runDistributed(distributed, threads: threads) { comm in
                try guardOutputFiles()
                try DistillJob(try settings()).runGenerative(on: comm, log: printFlushed)
            }
            return
        }
        try runReportingErrors {
            if let threads { setBLASThreads(threads) }
            try guardOutputFiles()
            try DistillJob(try settings()).runBaseline(log: printFlushed)
        }
    }
}

/// `equicert distill-eval`: train fresh students on a distilled set and report real test accuracy.
struct DistillEvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill-eval",
        abstract: "Train fresh students on a distilled set (several seeds) and report real-test-set (or validation) accuracy, mean ± std.")

    @Option(help: "Distilled set (.safetensors) written by `equicert distill`.") var distilled: String
    @Option(help: "Test data set (default: the one the set was distilled from).") var data: String?
    @Option(help: "Student architecture: convnet, mlp or deq-s (a DEQ with state channels = --width).") var arch: StudentArchitecture = .convnet
    @Option(help: "Labels: hard or soft (the set's teacher soft labels, KL at the set's temperature).") var labels: LabelKind = .hard
    @Option(help: "Number of seeds (students 0 … n−1).") var seeds: Int = 3
    @Option(help: "Epochs over the distilled set.") var epochs: Int = 300
    @Option(help: "Batch size.") var batch: Int = 256
    @Option(help: "Peak learning rate (AdamW, cosine).") var lr: Float = 1e-3
    @Option(help: "Decoupled weight decay.") var weightDecay: Float = 5e-4
    @Option(help: "ConvNet width.") var width: Int = 32
    @Option(help: "Random shift augmentation in pixels (0 disables).") var shift: Int = 2
    @Option(help: "Evaluate on the first N test images (0 = all).") var testLimit: Int = 0
    @Option(
        help:
            "Evaluate on: test, or validation (a stratified hold-out of the training set, for choosing a method's settings without touching the test set)."
    )
    var evaluateOn: DistillEvaluationJob.Part = .test
    @Option(help: "Validation size (with --evaluate-on validation; stratified by class, seed 0).") var validationSize: Int = 5000
    @Option(help: "OpenBLAS threads (default: all cores).") var threads: Int?

    func run() throws {
        try runReportingErrors {
            if let threads { setBLASThreads(threads) }
            var s = DistillEvaluationJob.Settings(distilled: distilled)
            s.data = data; s.part = evaluateOn; s.validationSize = validationSize; s.limit = testLimit; s.seeds = seeds
            s.architecture = arch; s.labels = labels; s.epochs = epochs; s.batchSize = batch; s.learningRate = lr
            s.weightDecay = weightDecay; s.width = width; s.maxShift = shift
            try DistillEvaluationJob(s).run(log: printFlushed) { note in
                FileHandle.standardError.write(Data("equicert: note: \(note)\n".utf8))
            }
        }
    }
}
