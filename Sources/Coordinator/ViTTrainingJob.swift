import Datasets
import Distributed
import Foundation
import NeuralNet
import Optimizers
import TensorCore
import TrainingLoop
import Transformers

/// Training the small pre-LN ViT on MNIST or Fashion-MNIST: pixels standardised with the data set's mean and
/// std, AdamW (no decay on biases, LayerNorm and positions), linear warm-up then cosine decay to 0, gradient
/// clipping, cross-entropy; test accuracy (a prefix of `evalLimit` images) after every epoch.
/// Data-parallel exactly as `TextTrainingJob` (batch slices scaled by slice/batch, one all-reduce).
public struct ViTTrainingJob {
    public struct Options: Sendable, TrainingRunOptions {
        /// Epochs, batch (128), learning rate (1e-3), seed, output and provenance.
        public var run: TrainingRun
        public var data: ImageDataSource
        public var configuration: ViTConfiguration
        public var warmupSteps: Int = 200
        public var weightDecay: Float = 0.05
        public var clipNorm: Float = 1.0
        /// Limit the training set (0 = all).
        public var trainLimit: Int = 0
        /// Test images evaluated after each epoch (0 = all).
        public var evalLimit: Int = 0

        public init(data: ImageDataSource, configuration: ViTConfiguration = ViTConfiguration(), epochs: Int, output: String) {
            run = TrainingRun(epochs: epochs, batchSize: 128, learningRate: 1e-3, output: output)
            self.data = data; self.configuration = configuration
        }
    }

    public struct Summary: Sendable {
        public var seconds: Double
        public var epochSeconds: [Double]
        public var trainLoss: [Double]
        public var testAccuracy: [Double]
    }

    public let options: Options
    public init(_ options: Options) { self.options = options }

    public func run(on comm: any Communicator = SingleProcessCommunicator(), log: (String) -> Void) throws -> Summary {
        let o = options, isRoot = comm.rank == 0
        guard o.epochs >= 1 else { throw CoordinatorError.invalidOption(name: "epochs", value: "\(o.epochs)", reason: "must be ≥ 1") }
        guard o.batchSize >= 1 else { throw CoordinatorError.invalidOption(name: "batch", value: "\(o.batchSize)", reason: "must be ≥ 1") }
        guard o.learningRate > 0, o.learningRate.isFinite, o.warmupSteps >= 0, o.clipNorm >= 0, o.weightDecay >= 0 else {
            throw CoordinatorError.invalidOption(
                name: "lr/warmup/clip/weight-decay",
                value: "\(o.learningRate)/\(o.warmupSteps)/\(o.clipNorm)/\(o.weightDecay)",
                reason: "lr must be > 0, the others ≥ 0")
        }
        var train = try o.data.load(split: .train)
        let test = try o.data.load(split: .test)
        if o.trainLimit > 0 && o.trainLimit < train.count { train = train.subset(Array(0..<o.trainLimit), name: train.name) }
        let c = o.configuration
        guard train.imageShape == [c.imageHeight, c.imageWidth, c.channels], train.classCount == c.classes else {
            throw CoordinatorError.modelDataMismatch(
                model: "vit \(c.imageHeight)×\(c.imageWidth)×\(c.channels), \(c.classes) classes",
                data: o.data.rawValue, reason: "data has \(train.imageShape), \(train.classCount) classes")
        }
        let norm = o.data.normalization
        let p = ParameterStore(seed: o.seed)
        let model = VisionTransformer(c, in: p)
        let noDecay = p.slots.filter { $0.name.hasSuffix(".bias") || $0.name.contains("norm") || $0.name == "position_embedding" }
            .map(\.range)
        var optimizer = try AdamW(weightDecay: o.weightDecay, decayMask: .excluding(noDecay))
        let batcher = Batcher(count: train.count, batchSize: o.batchSize, dropLast: true, shuffle: true, seed: o.seed)
        let totalSteps = batcher.batchesPerEpoch * o.epochs
        let schedule = LearningRateSchedule.cosine(base: o.learningRate, warmup: o.warmupSteps, total: totalSteps, floor: 0)
        if isRoot {
            log(
                "vit on \(o.data.rawValue): \(train.count) training images, patch \(c.patchSize), d \(c.hiddenSize), "
                    + "\(c.layerCount) blocks, \(p.count) parameters; world size \(comm.size)")
        }
        let started = Date()
        var summary = Summary(seconds: 0, epochSeconds: [], trainLoss: [], testAccuracy: [])
        var step = 0
        var loop = TrainingLoop(batcher: batcher, learningRate: { schedule.lr(step: $0) })
        loop.gradient = DataParallel.reduction(over: comm)
        loop.clipping = o.clipNorm > 0 ? .maxNorm(o.clipNorm) : .measure
        var bar: ProgressBar? = nil
        var t0 = Date()
        var lossSum = 0.0, correct = 0.0, seen = 0
        try loop.run(
            epochs: 0..<o.epochs, step: &step, parameters: p, optimizer: &optimizer, statCount: 2,
            beforeEpoch: { epoch in
                bar = ProgressBar(
                    label: "epoch \(epoch + 1)/\(o.epochs)", total: batcher.batchesPerEpoch, unit: "step",
                    enabled: o.showProgress && isRoot)
                t0 = Date()
                lossSum = 0; correct = 0; seen = 0
            },
            compute: { position, s in
                // batch-weighted loss, correct; summed over ranks
                let b = position.indices.count
                var (x, labels) = train.batch(Array(position.indices[s]))
                ViTEvaluation.standardize(&x, norm)
                let (logits, cache) = model.forward(x, p)
                let (loss, g) = Loss.crossEntropy(logits: logits, labels: labels)
                model.backward(g, cache, p)
                return [Double(loss) * Double(s.count) / Double(b), Double(zip(logits.argmaxRows(), labels).filter { $0 == $1 }.count)]
            },
            check: { position, stats, gn in
                guard stats[0].isFinite, gn.isFinite else {
                    throw CoordinatorError.nonFiniteTraining(step: position.step, reason: "loss \(stats[0]), gradient norm \(gn)")
                }
            },
            afterStep: { position, stats, _ in
                lossSum += stats[0]; correct += stats[1]; seen += position.indices.count
                bar!.update(
                    position.batch + 1, String(format: "loss %.4f acc %.1f%%", lossSum / Double(position.batch + 1), 100 * correct / Double(seen)))
            },
            afterEpoch: { epoch, step, _ in
                summary.epochSeconds.append(Date().timeIntervalSince(t0))
                summary.trainLoss.append(lossSum / Double(max(batcher.batchesPerEpoch, 1)))
                let n = o.evalLimit > 0 ? min(o.evalLimit, test.count) : test.count
                let acc = try ViTEvaluation.accuracy(model, p, data: test, count: n, normalization: norm, comm: comm)
                summary.testAccuracy.append(acc)
                guard isRoot else { return }
                log(
                    String(
                        format: "epoch %d: train loss %.4f acc %.2f%% (%.0f s) | test (%d) %.2f%%", epoch + 1, summary.trainLoss.last!,
                        100 * correct / Double(max(seen, 1)), summary.epochSeconds.last!, n, 100 * acc))
                let encoder = JSONEncoder()
                encoder.outputFormatting = .sortedKeys
                let meta = [
                    ViTEvaluation.architectureKey: ViTEvaluation.architecture,
                    "equicert.vit-configuration": String(decoding: try encoder.encode(c), as: UTF8.self),
                    "equicert.data": o.data.rawValue, "equicert.command": o.command, "equicert.version": o.codeVersion,
                    "equicert.epochs-done": "\(epoch + 1)", "equicert.steps-done": "\(step)",
                    "equicert.train.test-accuracy": String(format: "%.4f", acc),
                    "equicert.train.seconds-per-epoch": summary.epochSeconds.map { String(format: "%.1f", $0) }.joined(separator: " "),
                ]
                let url = URL(fileURLWithPath: o.output)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try p.save(to: url, metadata: meta)
            })
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }
}

/// Loading and evaluating ViT checkpoints.
public enum ViTEvaluation {
    public static let architectureKey = "equicert.architecture"
    public static let architecture = "vit"

    /// x ← (x − mean)/std elementwise.
    public static func standardize(_ x: inout Tensor, _ n: (mean: Float, std: Float)) {
        x.withUnsafeMutableBufferPointer { px in for i in 0..<px.count { px[i] = (px[i] - n.mean) / n.std } }
    }

    /// Accuracy on the first `count` images, sharded over ranks (counts all-reduced).
    public static func accuracy(
        _ model: VisionTransformer, _ p: ParameterStore, data: ImageDataset, count: Int,
        normalization: (mean: Float, std: Float), batchSize: Int = 250,
        comm: any Communicator = SingleProcessCommunicator()
    ) throws -> Double {
        let lo = count * comm.rank / comm.size, hi = count * (comm.rank + 1) / comm.size
        var correct: [Double] = [0]
        var start = lo
        while start < hi {
            var (x, labels) = data.batch(Array(start..<min(hi, start + batchSize)))
            standardize(&x, normalization)
            correct[0] += Double(zip(model(x, p).argmaxRows(), labels).filter { $0 == $1 }.count)
            start += labels.count
        }
        if comm.size > 1 { try comm.allReduce(&correct, op: .sum) }
        return count > 0 ? correct[0] / Double(count) : .nan
    }

    /// Whether `path` is a ViT checkpoint (metadata architecture "vit").
    public static func isViT(_ path: String) -> Bool {
        (try? SafeTensorsFile(contentsOf: URL(fileURLWithPath: path)))?.metadata[architectureKey] == architecture
    }

    /// Load a ViT checkpoint: model, parameters and the data set it was trained on.
    public static func load(_ path: String) throws -> (model: VisionTransformer, parameters: ParameterStore, data: ImageDataSource) {
        guard FileManager.default.fileExists(atPath: path) else { throw CoordinatorError.checkpoint(path: path, reason: "no such file") }
        let file = try SafeTensorsFile(contentsOf: URL(fileURLWithPath: path))
        guard file.metadata[architectureKey] == architecture,
            let json = file.metadata["equicert.vit-configuration"],
            let c = try? JSONDecoder().decode(ViTConfiguration.self, from: Data(json.utf8)),
            c.patchSize > 0, c.imageHeight % c.patchSize == 0, c.imageWidth % c.patchSize == 0,
            c.hiddenSize > 0, c.headCount > 0, c.hiddenSize % c.headCount == 0, c.mlpSize > 0, c.classes >= 2,
            c.layerCount >= 0, c.channels > 0
        else {
            throw CoordinatorError.checkpoint(
                path: path, reason: "not a ViT checkpoint (architecture or 'equicert.vit-configuration' missing or invalid)")
        }
        guard let data = file.metadata["equicert.data"].flatMap(ImageDataSource.init(rawValue:)) else {
            throw CoordinatorError.checkpoint(path: path, reason: "metadata 'equicert.data' is missing or not an image data set")
        }
        let p = ParameterStore()
        let model = VisionTransformer(c, in: p)
        try p.load(from: file)
        return (model, p, data)
    }
}
