import ArgumentParser
import Coordinator
import Datasets
import Distillation
import Foundation
import Distributed
import NeuralNet
import TensorCore

/// `equicert distill`: build a distilled set (baselines for now) and write it with a PNG grid.
struct DistillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill",
        abstract: "Distil a data set to a few images per class (d4m, random, herding, kmeans-pixel, centroid-decode, noise); writes one .safetensors file and a PNG grid.",
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
    @Option(help: "Teacher architecture: convnet or mlp.") var teacherArch: String = "convnet"
    @Option(help: "Teacher training epochs (when it has to be trained).") var teacherEpochs: Int = 3
    @Option(help: "Soft-label temperature T (softmax(z/T)).") var temperature: Float = 20
    @Option(help: "OpenBLAS threads (default: all cores).") var threads: Int?

    func run() throws {
        if GenerativeMethod(rawValue: method) != nil {
            try runDistributed(distributed, threads: threads) { comm in try runGenerative(comm) }
            return
        }
        try runReportingErrors {
            if let threads { setBLASThreads(threads) }
            let source = try ImageDataSource(parsing: data)
            let method = try BaselineMethod(parsing: self.method, extra: GenerativeMethod.allCases.map(\.rawValue))
            let train = try source.load(split: .train)
            let start = Date()
            var set = try BaselineSelection.distill(train, method: method, ipc: ipc, seed: seed)
            set.datasetName = source.rawValue  // the CLI name, so distill-eval can reload the test split
            let seconds = Date().timeIntervalSince(start)
            printFlushed(String(format: "%@ IPC %d on %@: %d images in %.2f s (%.4f s per image)",
                                method.rawValue, ipc, source.rawValue, set.count, seconds, seconds / Double(set.count)))
            try write(set, extra: ["command": commandLine(), "seconds": String(format: "%.3f", seconds)], train: train, source: source)
        }
    }

    /// Attach the teacher's soft labels (with --teacher), then write the set and its PNG grid.
    func write(_ distilled: DistilledSet, extra: [String: String], train: ImageDataset, source: ImageDataSource) throws {
        var set = distilled, extra = extra
        if let teacher {
            let arch = try StudentArchitecture(parsing: teacherArch)
            let (model, store) = try loadOrTrainTeacher(path: teacher, arch: arch, train: train, source: source)
            set = DistilledEvaluation.attachSoftLabels(to: set, teacher: model, store: store, temperature: temperature)
            extra["teacher"] = teacher
        }
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: out).deletingLastPathComponent(), withIntermediateDirectories: true)
        try set.save(to: URL(fileURLWithPath: out), extra: extra)
        let gridPath = grid ?? (out.hasSuffix(".safetensors") ? String(out.dropLast(".safetensors".count)) : out) + ".png"
        try set.writePNGGrid(to: URL(fileURLWithPath: gridPath), scale: 2)
        printFlushed("wrote \(out) and \(gridPath)")
    }

    /// d4m / centroid-decode / noise: autoencoder and denoiser loaded or trained (root trains and saves, the other
    /// ranks wait and load), classes c ≡ rank (mod size) generated here, gathered on the root, written there.
    func runGenerative(_ comm: any Communicator) throws {
        let method = GenerativeMethod(rawValue: self.method)!
        let source = try ImageDataSource(parsing: data)
        var train = try source.load(split: .train)
        guard trainLimit >= 0 else { throw DistillationError.invalidConfiguration(field: "train-limit", value: "\(trainLimit)", requirement: "≥ 0") }
        if trainLimit > 0 && trainLimit < train.count { train = train.subset(Array(0..<trainLimit), name: train.name) }
        let members = BaselineSelection.classIndices(train)
        try BaselineSelection.validate(ipc: ipc, classIndices: members)
        var settings = D4MSettings(ipc: ipc)
        settings.strength = strength; settings.steps = steps; settings.guidance = guidance; settings.seed = seed
        try settings.validate()
        let isRoot = comm.rank == 0
        let say: (String) -> Void = { if isRoot { printFlushed($0) } }
        let aePath = autoencoder ?? "Models/ae-\(source.rawValue).safetensors"
        let dnPath = denoiser ?? "Models/denoiser-\(source.rawValue).safetensors"
        if isRoot && !FileManager.default.fileExists(atPath: aePath) {
            var ae = try LatentAutoencoder(imageShape: train.imageShape, latentChannels: 4, seed: 0)
            say("autoencoder: training on \(train.count) images for \(aeEpochs) epochs → \(aePath)")
            let t0 = Date()
            try ae.train(images: train.images, epochs: aeEpochs) { e, l in say(String(format: "  epoch %d: reconstruction MSE %.5f", e, l)) }
            say(String(format: "autoencoder: latent scale %.4f, %.0f s", ae.latentScale, Date().timeIntervalSince(t0)))
            try ae.save(to: URL(fileURLWithPath: aePath), metadata: ["equicert.data": source.rawValue, "equicert.command": commandLine(),
                                                                     "equicert.epochs": "\(aeEpochs)"])
        }
        try comm.barrier()
        let ae = try LatentAutoencoder.load(from: URL(fileURLWithPath: aePath), expectingImageShape: train.imageShape)
        let schedule = NoiseSchedule()
        guard denoiserWidth >= 8, denoiserWidth % 8 == 0 else {
            throw DistillationError.invalidConfiguration(field: "denoiser-width", value: "\(denoiserWidth)", requirement: "a multiple of 8, ≥ 8")
        }
        var dn = LatentDenoiser(latentShape: ae.latentShape, classCount: train.classCount, width: denoiserWidth)
        if method != .centroidDecode {
            if isRoot && !FileManager.default.fileExists(atPath: dnPath) {
                say("denoiser: encoding \(train.count) images, training for \(denoiserEpochs) epochs → \(dnPath)")
                let t0 = Date()
                let latents = ae.encode(train.images)
                try dn.train(latents: latents, labels: train.labels, epochs: denoiserEpochs, schedule: schedule, seed: 0) { e, l in
                    say(String(format: "  epoch %d: ε-MSE %.4f (%.0f s)", e, l, Date().timeIntervalSince(t0)))
                }
                try dn.save(to: URL(fileURLWithPath: dnPath), metadata: ["equicert.data": source.rawValue, "equicert.command": commandLine(),
                                                                         "equicert.epochs": "\(denoiserEpochs)"])
            }
            try comm.barrier()
            dn = try LatentDenoiser.load(from: URL(fileURLWithPath: dnPath), latentShape: ae.latentShape, classCount: train.classCount)
        }
        let generator = try D4MGenerator(autoencoder: ae, denoiser: dn, schedule: schedule, settings: settings)
        let start = Date()
        var mine: [UInt8] = []
        for c in 0..<train.classCount where c % comm.size == comm.rank {
            let images = generator.generate(method: method, classIndex: c, images: train.batch(members[c]).images)
            withUnsafeBytes(of: Int64(c).littleEndian) { mine += $0 }
            images.withUnsafeBufferPointer { mine += UnsafeRawBufferPointer($0) }
        }
        let seconds = Date().timeIntervalSince(start)
        guard let parts = try comm.gather(mine, root: 0) else { return }
        let per = ipc * train.imageShape.reduce(1, *)
        var byClass = [[Float]?](repeating: nil, count: train.classCount)
        for part in parts {
            var o = 0
            while o < part.count {
                let c = Int(part[o..<(o + 8)].withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) })
                o += 8
                byClass[c] = part[o..<(o + 4 * per)].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                o += 4 * per
            }
        }
        let scalars = try byClass.enumerated().flatMap { c, v -> [Float] in
            guard let v else { throw DistillationError.invalidConfiguration(field: "class", value: "\(c)", requirement: "generated by some rank") }
            return v
        }
        let set = DistilledSet(images: Tensor(shape: [train.classCount * ipc] + train.imageShape, scalars: scalars),
                               labels: (0..<train.classCount).flatMap { [Int](repeating: $0, count: ipc) },
                               classCount: train.classCount, datasetName: source.rawValue, method: method.rawValue, ipc: ipc, seed: seed)
        printFlushed(String(format: "%@ IPC %d on %@: %d images in %.2f s on %d rank(s) (%.4f s per image of rank time)",
                            method.rawValue, ipc, source.rawValue, set.count, seconds, comm.size, seconds * Double(comm.size) / Double(set.count)))
        var extra = ["command": commandLine(), "seconds": String(format: "%.3f", seconds), "autoencoder": aePath,
                     "strength": "\(strength)", "steps": "\(steps)", "guidance": "\(guidance)", "ranks": "\(comm.size)"]
        if method != .centroidDecode { extra["denoiser"] = dnPath }
        try write(set, extra: extra, train: train, source: source)
    }

    /// The teacher at `path`, or a fresh one trained on the whole training set (hard labels) and saved there.
    func loadOrTrainTeacher(path: String, arch: StudentArchitecture, train: ImageDataset,
                            source: ImageDataSource) throws -> (Sequential, ParameterStore) {
        guard arch != .deqS else {
            throw DistillationError.invalidConfiguration(field: "teacher-arch", value: arch.rawValue, requirement: "convnet or mlp")
        }
        let width = 64
        let store = ParameterStore(seed: 0)
        let model = arch.makeModel(imageShape: train.imageShape, classCount: train.classCount, width: width, in: store)
        let url = URL(fileURLWithPath: path)
        if FileManager.default.fileExists(atPath: path) {
            let file = try SafeTensorsFile(contentsOf: url)
            guard file.metadata["arch"] == arch.rawValue, file.metadata["dataset"] == source.rawValue else {
                throw DistillationError.badSetFile(path: path, reason: "teacher is \(file.metadata["arch"] ?? "?") on \(file.metadata["dataset"] ?? "?"), expected \(arch.rawValue) on \(source.rawValue)")
            }
            try store.load(from: file)
            printFlushed("teacher: loaded \(path)")
            return (model, store)
        }
        let config = DistilledEvaluationConfig(architecture: arch, epochs: teacherEpochs, batchSize: 128, learningRate: 1e-3,
                                               width: width, maxShift: 1)
        try config.validate()
        printFlushed("teacher: training \(arch.rawValue) on \(train.count) images for \(teacherEpochs) epochs …")
        let (trained, trainedStore, loss) = DistilledEvaluation.train(images: train.images, targets: .hard(train.labels),
                                                                      classCount: train.classCount, config: config, seed: 0)
        let test = try source.load(split: .test)
        let accuracy = DistilledEvaluation.accuracy(model: trained, store: trainedStore, images: test.images,
                                                    labels: test.labels, batchSize: 500)
        printFlushed(String(format: "teacher: final loss %.4f, test accuracy %.2f %%", loss, accuracy * 100))
        try trainedStore.save(to: url, metadata: ["arch": arch.rawValue, "dataset": source.rawValue, "width": String(width),
                                                  "test_accuracy": String(accuracy), "command": commandLine()])
        return (trained, trainedStore)
    }
}

/// `equicert distill-eval`: train fresh students on a distilled set and report real test accuracy.
struct DistillEvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill-eval",
        abstract: "Train fresh students on a distilled set (several seeds) and report real-test-set (or validation) accuracy, mean ± std.")

    @Option(help: "Distilled set (.safetensors) written by `equicert distill`.") var distilled: String
    @Option(help: "Test data set (default: the one the set was distilled from).") var data: String?
    @Option(help: "Student architecture: convnet, mlp or deq-s (a DEQ with state channels = --width).") var arch: String = "convnet"
    @Option(help: "Labels: hard or soft (the set's teacher soft labels, KL at the set's temperature).") var labels: String = "hard"
    @Option(help: "Number of seeds (students 0 … n−1).") var seeds: Int = 3
    @Option(help: "Epochs over the distilled set.") var epochs: Int = 300
    @Option(help: "Batch size.") var batch: Int = 256
    @Option(help: "Peak learning rate (AdamW, cosine).") var lr: Float = 1e-3
    @Option(help: "Decoupled weight decay.") var weightDecay: Float = 5e-4
    @Option(help: "ConvNet width.") var width: Int = 32
    @Option(help: "Random shift augmentation in pixels (0 disables).") var shift: Int = 2
    @Option(help: "Evaluate on the first N test images (0 = all).") var testLimit: Int = 0
    @Option(help: "Evaluate on: test, or validation (a stratified hold-out of the training set, for choosing a method's settings without touching the test set).")
    var evaluateOn: String = "test"
    @Option(help: "Validation size (with --evaluate-on validation; stratified by class, seed 0).") var validationSize: Int = 5000
    @Option(help: "OpenBLAS threads (default: all cores).") var threads: Int?

    func run() throws {
        try runReportingErrors {
            if let threads { setBLASThreads(threads) }
            let url = URL(fileURLWithPath: distilled)
            let set = try DistilledSet.load(from: url)
            let source = try ImageDataSource(parsing: data ?? set.datasetName)
            if source.rawValue != set.datasetName.lowercased() {
                // Same image shape and class count, so it runs — but it tests a transfer, not the distillation.
                FileHandle.standardError.write(Data(("equicert: note: \(distilled) was distilled from \(set.datasetName); "
                    + "evaluating on \(source.rawValue) as --data asks\n").utf8))
            }
            var test: ImageDataset
            switch evaluateOn {
            case "test":
                test = try source.load(split: .test)
            case "validation":
                let train = try source.load(split: .train)
                guard validationSize >= 10, validationSize < train.count else {
                    throw CoordinatorError.invalidOption(name: "validation-size", value: String(validationSize),
                                                         reason: "must be in 10..<\(train.count)")
                }
                let fraction = Double(validationSize) / Double(train.count)
                let split = try StratifiedSplit(labels: train.labels, train: 1 - fraction, validation: fraction, test: 0, seed: 0)
                test = train.subset(split.validation)
            default:
                throw CoordinatorError.invalidOption(name: "evaluate-on", value: evaluateOn, reason: "must be test or validation")
            }
            if testLimit > 0 && testLimit < test.count { test = test.subset(Array(0..<testLimit)) }
            guard seeds >= 1 else {
                throw DistillationError.invalidConfiguration(field: "seeds", value: String(seeds), requirement: "≥ 1")
            }
            let config = DistilledEvaluationConfig(
                architecture: try StudentArchitecture(parsing: arch), labels: try LabelKind(parsing: labels), epochs: epochs,
                batchSize: batch, learningRate: lr, weightDecay: weightDecay, width: width, maxShift: shift,
                seeds: (0..<seeds).map(UInt64.init))
            printFlushed("\(distilled): \(set.method) IPC \(set.ipc) on \(set.datasetName), \(set.count) images; \(arch), \(labels) labels, \(epochs) epochs, \(seeds) seeds, \(test.count) \(evaluateOn) images")
            let r = try DistilledEvaluation.run(set: set, test: test, config: config, path: distilled, progress: printFlushed)
            printFlushed(String(format: "accuracy %.2f ± %.2f %% (%@ %@ %@ IPC %d)", r.mean * 100, r.std * 100,
                                arch, labels, set.method, set.ipc))
        }
    }
}
