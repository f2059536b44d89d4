import Datasets
import Distillation
import Distributed
import Foundation
import NeuralNet
import TensorCore

/// Distilling a data set to a few images per class: a baseline selection (random, herding, kmeans-pixel) on one
/// process, or a generative method (d4m, centroid-decode, noise) whose classes are spread over the ranks (strided
/// `ShardPlan`) and gathered on the root. The autoencoder, the denoiser and the optional soft-label teacher are
/// loaded when their files exist and trained (by the root; the other ranks wait and load) when they do not.
public struct DistillJob {
    public struct Settings: Sendable {
        public var data: ImageDataSource
        /// A `BaselineMethod` or `GenerativeMethod` name.
        public var method: String
        public var ipc = 10
        public var seed: UInt64 = 0
        /// Generative methods: the autoencoder (default Models/ae-<data>.safetensors) and its training epochs.
        public var autoencoder: String?
        public var autoencoderEpochs = 5
        /// d4m, noise: the denoiser (default Models/denoiser-<data>.safetensors), its epochs and width.
        public var denoiser: String?
        public var denoiserEpochs = 30
        public var denoiserWidth = 64
        public var strength = 0.7
        public var steps = 50
        public var guidance: Float = 2
        /// Generative methods: only the first N training images (0 = all).
        public var trainLimit = 0
        /// The set (.safetensors) and its PNG grid (default: the set's path with .png).
        public var output: String
        public var grid: String?
        /// Soft labels from this teacher (trained on the real training set and saved here when absent).
        public var teacher: String?
        public var teacherArchitecture = "convnet"
        public var teacherEpochs = 3
        public var temperature: Float = 20
        public var command = ""

        public init(data: ImageDataSource, method: String, output: String) {
            self.data = data; self.method = method; self.output = output
        }
    }

    public let settings: Settings

    public init(_ settings: Settings) { self.settings = settings }

    /// Whether the method is generative (distributed over classes) rather than a baseline selection.
    public var isGenerative: Bool { GenerativeMethod(rawValue: settings.method) != nil }

    /// A baseline selection on this process; `log` receives the progress lines.
    public func runBaseline(log: (String) -> Void) throws {
        let s = settings, source = s.data
        let method = try BaselineMethod(parsing: s.method, extra: GenerativeMethod.allCases.map(\.rawValue))
        let train = try source.load(split: .train)
        let start = Date()
        var set = try BaselineSelection.distill(train, method: method, ipc: s.ipc, seed: s.seed)
        set.datasetName = source.rawValue  // the CLI name, so distill-eval can reload the test split
        let seconds = Date().timeIntervalSince(start)
        log(
            String(
                format: "%@ IPC %d on %@: %d images in %.2f s (%.4f s per image)",
                method.rawValue, s.ipc, source.rawValue, set.count, seconds, seconds / Double(set.count)))
        try write(set, extra: ["command": s.command, "seconds": String(format: "%.3f", seconds)], train: train, log: log)
    }

    /// d4m / centroid-decode / noise on every rank: autoencoder and denoiser loaded or trained (root trains and
    /// saves, the other ranks wait and load), this rank's classes generated, gathered and written on the root.
    /// `log` is called on the root only.
    public func runGenerative(on comm: any Communicator, log: @escaping (String) -> Void) throws {
        let s = settings, source = s.data
        let method = GenerativeMethod(rawValue: s.method)!
        var train = try source.load(split: .train)
        guard s.trainLimit >= 0 else {
            throw DistillationError.invalidConfiguration(field: "train-limit", value: "\(s.trainLimit)", requirement: "≥ 0")
        }
        if s.trainLimit > 0 && s.trainLimit < train.count { train = train.subset(Array(0..<s.trainLimit), name: train.name) }
        let members = BaselineSelection.classIndices(train)
        try BaselineSelection.validate(ipc: s.ipc, classIndices: members)
        var d4m = D4MSettings(ipc: s.ipc)
        d4m.strength = s.strength; d4m.steps = s.steps; d4m.guidance = s.guidance; d4m.seed = s.seed
        try d4m.validate()
        let isRoot = comm.rank == 0
        let say: (String) -> Void = { if isRoot { log($0) } }
        let aePath = s.autoencoder ?? "Models/ae-\(source.rawValue).safetensors"
        let dnPath = s.denoiser ?? "Models/denoiser-\(source.rawValue).safetensors"
        if isRoot && !FileManager.default.fileExists(atPath: aePath) {
            var ae = try LatentAutoencoder(imageShape: train.imageShape, latentChannels: 4, seed: 0)
            say("autoencoder: training on \(train.count) images for \(s.autoencoderEpochs) epochs → \(aePath)")
            let t0 = Date()
            try ae.train(images: train.images, epochs: s.autoencoderEpochs) { e, l in say(String(format: "  epoch %d: reconstruction MSE %.5f", e, l))
            }
            say(String(format: "autoencoder: latent scale %.4f, %.0f s", ae.latentScale, Date().timeIntervalSince(t0)))
            try ae.save(
                to: URL(fileURLWithPath: aePath),
                metadata: [
                    "equicert.data": source.rawValue, "equicert.command": s.command,
                    "equicert.epochs": "\(s.autoencoderEpochs)",
                ])
        }
        try comm.barrier()
        let ae = try LatentAutoencoder.load(from: URL(fileURLWithPath: aePath), expectingImageShape: train.imageShape)
        let schedule = NoiseSchedule()
        guard s.denoiserWidth >= 8, s.denoiserWidth % 8 == 0 else {
            throw DistillationError.invalidConfiguration(field: "denoiser-width", value: "\(s.denoiserWidth)", requirement: "a multiple of 8, ≥ 8")
        }
        var dn = LatentDenoiser(latentShape: ae.latentShape, classCount: train.classCount, width: s.denoiserWidth)
        if method != .centroidDecode {
            if isRoot && !FileManager.default.fileExists(atPath: dnPath) {
                say("denoiser: encoding \(train.count) images, training for \(s.denoiserEpochs) epochs → \(dnPath)")
                let t0 = Date()
                let latents = ae.encode(train.images)
                try dn.train(latents: latents, labels: train.labels, epochs: s.denoiserEpochs, schedule: schedule, seed: 0) { e, l in
                    say(String(format: "  epoch %d: ε-MSE %.4f (%.0f s)", e, l, Date().timeIntervalSince(t0)))
                }
                try dn.save(
                    to: URL(fileURLWithPath: dnPath),
                    metadata: [
                        "equicert.data": source.rawValue, "equicert.command": s.command,
                        "equicert.epochs": "\(s.denoiserEpochs)",
                    ])
            }
            try comm.barrier()
            dn = try LatentDenoiser.load(from: URL(fileURLWithPath: dnPath), latentShape: ae.latentShape, classCount: train.classCount)
        }
        let generator = try D4MGenerator(autoencoder: ae, denoiser: dn, schedule: schedule, settings: d4m)
        let start = Date()
        var mine: [UInt8] = []
        for c in ShardPlan.items(train.classCount, forRankOf: comm, layout: .strided) {
            let images = generator.generate(method: method, classIndex: c, images: train.batch(members[c]).images)
            withUnsafeBytes(of: Int64(c).littleEndian) { mine += $0 }
            images.withUnsafeBufferPointer { mine += UnsafeRawBufferPointer($0) }
        }
        let seconds = Date().timeIntervalSince(start)
        guard let parts = try comm.gather(mine, root: 0) else { return }
        let scalars = try Self.classMajorImages(parts, classCount: train.classCount, valuesPerClass: s.ipc * train.imageShape.reduce(1, *))
        let set = DistilledSet(
            images: Tensor(shape: [train.classCount * s.ipc] + train.imageShape, scalars: scalars),
            labels: (0..<train.classCount).flatMap { [Int](repeating: $0, count: s.ipc) },
            classCount: train.classCount, datasetName: source.rawValue, method: method.rawValue, ipc: s.ipc, seed: s.seed)
        log(
            String(
                format: "%@ IPC %d on %@: %d images in %.2f s on %d rank(s) (%.4f s per image of rank time)",
                method.rawValue, s.ipc, source.rawValue, set.count, seconds, comm.size, seconds * Double(comm.size) / Double(set.count)))
        var extra = [
            "command": s.command, "seconds": String(format: "%.3f", seconds), "autoencoder": aePath,
            "strength": "\(s.strength)", "steps": "\(s.steps)", "guidance": "\(s.guidance)", "ranks": "\(comm.size)",
        ]
        if method != .centroidDecode { extra["denoiser"] = dnPath }
        try write(set, extra: extra, train: train, log: log)
    }

    /// The gathered parts — each a sequence of (class c as little-endian Int64, `valuesPerClass` Floats) — as one
    /// class-major array; every class must be present.
    static func classMajorImages(_ parts: [[UInt8]], classCount: Int, valuesPerClass per: Int) throws -> [Float] {
        var byClass = [[Float]?](repeating: nil, count: classCount)
        for part in parts {
            var o = 0
            while o < part.count {
                let c = Int(part[o..<(o + 8)].withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) })
                o += 8
                byClass[c] = part[o..<(o + 4 * per)].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                o += 4 * per
            }
        }
        return try byClass.enumerated().flatMap { c, v -> [Float] in
            guard let v else { throw DistillationError.invalidConfiguration(field: "class", value: "\(c)", requirement: "generated by some rank") }
            return v
        }
    }

    /// Attach the teacher's soft labels (with a teacher), then write the set and its PNG grid.
    func write(_ distilled: DistilledSet, extra: [String: String], train: ImageDataset, log: (String) -> Void) throws {
        let s = settings
        var set = distilled, extra = extra
        if let teacher = s.teacher {
            let arch = try StudentArchitecture(parsing: s.teacherArchitecture)
            let (model, store) = try loadOrTrainTeacher(path: teacher, arch: arch, train: train, log: log)
            set = DistilledEvaluation.attachSoftLabels(to: set, teacher: model, store: store, temperature: s.temperature)
            extra["teacher"] = teacher
        }
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: s.output).deletingLastPathComponent(), withIntermediateDirectories: true)
        try set.save(to: URL(fileURLWithPath: s.output), extra: extra)
        let gridPath = s.grid ?? (s.output.hasSuffix(".safetensors") ? String(s.output.dropLast(".safetensors".count)) : s.output) + ".png"
        try set.writePNGGrid(to: URL(fileURLWithPath: gridPath), scale: 2)
        log("wrote \(s.output) and \(gridPath)")
    }

    /// The teacher at `path`, or a fresh one trained on the whole training set (hard labels) and saved there.
    func loadOrTrainTeacher(
        path: String, arch: StudentArchitecture, train: ImageDataset,
        log: (String) -> Void
    ) throws -> (Sequential, ParameterStore) {
        let source = settings.data
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
                throw DistillationError.badSetFile(
                    path: path,
                    reason:
                        "teacher is \(file.metadata["arch"] ?? "?") on \(file.metadata["dataset"] ?? "?"), expected \(arch.rawValue) on \(source.rawValue)"
                )
            }
            try store.load(from: file)
            log("teacher: loaded \(path)")
            return (model, store)
        }
        let config = DistilledEvaluationConfig(
            architecture: arch, epochs: settings.teacherEpochs, batchSize: 128, learningRate: 1e-3,
            width: width, maxShift: 1)
        try config.validate()
        log("teacher: training \(arch.rawValue) on \(train.count) images for \(settings.teacherEpochs) epochs …")
        let (trained, trainedStore, loss) = DistilledEvaluation.train(
            images: train.images, targets: .hard(train.labels),
            classCount: train.classCount, config: config, seed: 0)
        let test = try source.load(split: .test)
        let accuracy = DistilledEvaluation.accuracy(
            model: trained, store: trainedStore, images: test.images,
            labels: test.labels, batchSize: 500)
        log(String(format: "teacher: final loss %.4f, test accuracy %.2f %%", loss, accuracy * 100))
        try trainedStore.save(
            to: url,
            metadata: [
                "arch": arch.rawValue, "dataset": source.rawValue, "width": String(width),
                "test_accuracy": String(accuracy), "command": settings.command,
            ])
        return (trained, trainedStore)
    }
}
