import ArgumentParser
import Coordinator
import Datasets
import Distillation
import Foundation
import NeuralNet

/// `equicert distill`: build a distilled set (baselines for now) and write it with a PNG grid.
struct DistillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill",
        abstract: "Distil a data set to a few images per class (random, herding, kmeans-pixel); writes one .safetensors file and a PNG grid.")

    @Option(help: "Data set: mnist or fashion-mnist.") var data: String = "mnist"
    @Option(help: "Images per class (≥ 1, at most the smallest class).") var ipc: Int = 10
    @Option(help: "Method: random, herding (raw pixels) or kmeans-pixel.") var method: String = "random"
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
        try runReportingErrors {
            if let threads { setBLASThreads(threads) }
            let source = try ImageDataSource(parsing: data)
            let method = try BaselineMethod(parsing: self.method)
            let train = try source.load(split: .train)
            let start = Date()
            var set = try BaselineSelection.distill(train, method: method, ipc: ipc, seed: seed)
            set.datasetName = source.rawValue  // the CLI name, so distill-eval can reload the test split
            let seconds = Date().timeIntervalSince(start)
            printFlushed(String(format: "%@ IPC %d on %@: %d images in %.2f s (%.4f s per image)",
                                method.rawValue, ipc, source.rawValue, set.count, seconds, seconds / Double(set.count)))
            var extra = ["command": commandLine(), "seconds": String(format: "%.3f", seconds)]
            if let teacher {
                let arch = try StudentArchitecture(parsing: teacherArch)
                let (model, store) = try loadOrTrainTeacher(path: teacher, arch: arch, train: train, source: source)
                set = DistilledEvaluation.attachSoftLabels(to: set, teacher: model, store: store, temperature: temperature)
                extra["teacher"] = teacher
            }
            try set.save(to: URL(fileURLWithPath: out), extra: extra)
            let gridPath = grid ?? (out.hasSuffix(".safetensors") ? String(out.dropLast(".safetensors".count)) : out) + ".png"
            try set.writePNGGrid(to: URL(fileURLWithPath: gridPath), scale: 2)
            printFlushed("wrote \(out) and \(gridPath)")
        }
    }

    /// The teacher at `path`, or a fresh one trained on the whole training set (hard labels) and saved there.
    func loadOrTrainTeacher(path: String, arch: StudentArchitecture, train: ImageDataset,
                            source: ImageDataSource) throws -> (Sequential, ParameterStore) {
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
        abstract: "Train fresh students on a distilled set (several seeds) and report real-test-set accuracy, mean ± std.")

    @Option(help: "Distilled set (.safetensors) written by `equicert distill`.") var distilled: String
    @Option(help: "Test data set (default: the one the set was distilled from).") var data: String?
    @Option(help: "Student architecture: convnet or mlp.") var arch: String = "convnet"
    @Option(help: "Labels: hard or soft (the set's teacher soft labels, KL at the set's temperature).") var labels: String = "hard"
    @Option(help: "Number of seeds (students 0 … n−1).") var seeds: Int = 3
    @Option(help: "Epochs over the distilled set.") var epochs: Int = 300
    @Option(help: "Batch size.") var batch: Int = 256
    @Option(help: "Peak learning rate (AdamW, cosine).") var lr: Float = 1e-3
    @Option(help: "Decoupled weight decay.") var weightDecay: Float = 5e-4
    @Option(help: "ConvNet width.") var width: Int = 32
    @Option(help: "Random shift augmentation in pixels (0 disables).") var shift: Int = 2
    @Option(help: "Evaluate on the first N test images (0 = all).") var testLimit: Int = 0
    @Option(help: "OpenBLAS threads (default: all cores).") var threads: Int?

    func run() throws {
        try runReportingErrors {
            if let threads { setBLASThreads(threads) }
            let url = URL(fileURLWithPath: distilled)
            let set = try DistilledSet.load(from: url)
            let source = try ImageDataSource(parsing: data ?? set.datasetName)
            var test = try source.load(split: .test)
            if testLimit > 0 && testLimit < test.count { test = test.subset(Array(0..<testLimit)) }
            guard seeds >= 1 else {
                throw DistillationError.invalidConfiguration(field: "seeds", value: String(seeds), requirement: "≥ 1")
            }
            let config = DistilledEvaluationConfig(
                architecture: try StudentArchitecture(parsing: arch), labels: try LabelKind(parsing: labels), epochs: epochs,
                batchSize: batch, learningRate: lr, weightDecay: weightDecay, width: width, maxShift: shift,
                seeds: (0..<seeds).map(UInt64.init))
            printFlushed("\(distilled): \(set.method) IPC \(set.ipc) on \(set.datasetName), \(set.count) images; \(arch), \(labels) labels, \(epochs) epochs, \(seeds) seeds, \(test.count) test images")
            let r = try DistilledEvaluation.run(set: set, test: test, config: config, path: distilled, progress: printFlushed)
            printFlushed(String(format: "accuracy %.2f ± %.2f %% (%@ %@ %@ IPC %d)", r.mean * 100, r.std * 100,
                                arch, labels, set.method, set.ipc))
        }
    }
}
