import Datasets
import Equilibrium
import Foundation
import NeuralNet
import Optimizers
import TensorCore
import TrainingLoop

/// A student network trained from scratch on a distilled set.
public enum StudentArchitecture: String, Sendable, CaseIterable {
    /// 3 × [conv 3×3 (pad 1) → GroupNorm(width groups = instance norm) → ReLU → avgpool 2] → linear
    /// (the dataset-distillation "ConvNet-3" of Zhao et al., with GroupNorm as its instance norm).
    case convnet
    /// Flatten → 2 × [linear 256 → ReLU] → linear.
    case mlp
    /// A deep equilibrium model (DEQ-S, state C = width, flatten head; Anderson forward, implicit backward, no
    /// Jacobian regulariser): an implicit-depth student for the cross-architecture claim. Trained by
    /// `DistilledEvaluation.trainDEQ`, not `makeModel`.
    case deqS = "deq-s"

    /// Parse an architecture name; throws `DistillationError.unknownArchitecture`.
    public init(parsing name: String) throws(DistillationError) {
        guard let a = StudentArchitecture(rawValue: name) else {
            throw .unknownArchitecture(name: name, known: StudentArchitecture.allCases.map(\.rawValue))
        }
        self = a
    }

    /// A fresh model for images [H, W, C] and `classCount` classes; parameters registered in `store`
    /// (initialised from the store's seed). Returns logits [B, classCount].
    public func makeModel(imageShape: [Int], classCount: Int, width: Int, in store: ParameterStore) -> Sequential {
        precondition(imageShape.count == 3 && classCount >= 2 && width >= 1, "bad student geometry")
        let (h, w, c) = (imageShape[0], imageShape[1], imageShape[2])
        switch self {
        case .convnet:
            var layers: [any Layer] = []
            var (ch, hh, ww) = (c, h, w)
            for i in 0..<3 {
                layers += [
                    Convolution2D("conv\(i)", inChannels: ch, outChannels: width, kernelSize: 3, padding: 1, in: store),
                    GroupNormalization("norm\(i)", channels: width, groups: width, in: store),
                    ReLU(), AveragePooling2D(window: 2),
                ]
                (ch, hh, ww) = (width, hh / 2, ww / 2)
            }
            layers += [Flatten(), Dense("head", inFeatures: ch * hh * ww, outFeatures: classCount, in: store)]
            return Sequential(layers)
        case .deqS:
            preconditionFailure("deq-s students are built by DistilledEvaluation.trainDEQ")
        case .mlp:
            return Sequential([
                Flatten(),
                Dense("fc0", inFeatures: h * w * c, outFeatures: 256, in: store), ReLU(),
                Dense("fc1", inFeatures: 256, outFeatures: 256, in: store), ReLU(),
                Dense("head", inFeatures: 256, outFeatures: classCount, in: store),
            ])
        }
    }
}

/// Which targets the student learns from.
public enum LabelKind: String, Sendable, CaseIterable {
    /// Cross-entropy against the hard labels.
    case hard
    /// KL(teacher ‖ student) at the set's soft-label temperature T (×T², Hinton), no hard-label term.
    case soft

    /// Parse a label kind; throws `invalidConfiguration`.
    public init(parsing name: String) throws(DistillationError) {
        guard let k = LabelKind(rawValue: name) else {
            throw .invalidConfiguration(field: "labels", value: name, requirement: "hard or soft")
        }
        self = k
    }
}

/// How students are trained on a distilled set and evaluated.
public struct DistilledEvaluationConfig: Sendable, Equatable {
    public var architecture: StudentArchitecture
    public var labels: LabelKind
    /// Epochs over the distilled set.
    public var epochs: Int
    public var batchSize: Int
    /// Peak learning rate of Adam(W) with a cosine schedule (warm-up `warmupFraction` of the steps) to 0.
    public var learningRate: Float
    public var warmupFraction: Double
    /// Decoupled weight decay (AdamW); 0 gives plain Adam.
    public var weightDecay: Float
    /// ConvNet width (channels per conv layer).
    public var width: Int
    /// Random shift augmentation: each image is translated by (dy, dx) ∈ [−s, s]² (zero fill); 0 disables.
    public var maxShift: Int
    /// One student per seed (initialisation, batch order and augmentation all keyed by it).
    public var seeds: [UInt64]
    /// Batch size of the test-set pass.
    public var evaluationBatchSize: Int

    public init(
        architecture: StudentArchitecture = .convnet, labels: LabelKind = .hard, epochs: Int = 300,
        batchSize: Int = 256, learningRate: Float = 1e-3, warmupFraction: Double = 0.05, weightDecay: Float = 5e-4,
        width: Int = 32, maxShift: Int = 2, seeds: [UInt64] = [0, 1, 2], evaluationBatchSize: Int = 500
    ) {
        self.architecture = architecture; self.labels = labels; self.epochs = epochs; self.batchSize = batchSize
        self.learningRate = learningRate; self.warmupFraction = warmupFraction; self.weightDecay = weightDecay
        self.width = width; self.maxShift = maxShift; self.seeds = seeds; self.evaluationBatchSize = evaluationBatchSize
    }

    /// Throws `invalidConfiguration` naming the first unusable field.
    public func validate() throws(DistillationError) {
        func need(_ ok: Bool, _ field: String, _ value: Any, _ requirement: String) throws(DistillationError) {
            if !ok { throw .invalidConfiguration(field: field, value: "\(value)", requirement: requirement) }
        }
        try need(epochs >= 1, "epochs", epochs, "≥ 1")
        try need(batchSize >= 1, "batch size", batchSize, "≥ 1")
        try need(learningRate > 0 && learningRate.isFinite, "learning rate", learningRate, "finite and > 0")
        try need(warmupFraction >= 0 && warmupFraction < 1, "warm-up fraction", warmupFraction, "in [0, 1)")
        try need(weightDecay >= 0 && weightDecay.isFinite, "weight decay", weightDecay, "finite and ≥ 0")
        try need(width >= 1, "width", width, "≥ 1")
        try need(maxShift >= 0, "max shift", maxShift, "≥ 0")
        try need(!seeds.isEmpty, "seeds", seeds.count, "at least one")
        try need(evaluationBatchSize >= 1, "evaluation batch size", evaluationBatchSize, "≥ 1")
    }
}

/// Test accuracies of students trained on one distilled set.
public struct DistilledEvaluationResult: Sendable, Equatable {
    /// Real-test-set accuracy in [0, 1] per seed (same order as the config's seeds).
    public var accuracies: [Double]
    /// Final training loss per seed.
    public var finalLosses: [Double]
    /// Wall-clock seconds per seed (training + test pass).
    public var seconds: [Double]
    /// Mean accuracy.
    public var mean: Double { accuracies.reduce(0, +) / Double(max(1, accuracies.count)) }
    /// Sample standard deviation (n − 1) of the accuracies; 0 for a single seed.
    public var std: Double {
        guard accuracies.count > 1 else { return 0 }
        let m = mean
        return (accuracies.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(accuracies.count - 1)).squareRoot()
    }
}

/// The evaluation protocol: train fresh students on a distilled set, report real-test-set accuracy.
///
/// Per seed s: a new model (parameters initialised from s), Adam(W) with a cosine schedule, `epochs` passes
/// over the set in batches shuffled by s, each image shifted by a random (dy, dx) drawn from the stream keyed by
/// (s, "AUGM", epoch, image index); loss cross-entropy (hard) or soft cross-entropy at the set's temperature
/// (soft). Accuracy is argmax of the logits on the un-augmented test images. A pure function of (set, test set,
/// config): the same numbers on every run.
public enum DistilledEvaluation {
    /// Evaluate `set` against `test`; `progress` receives one line per finished seed.
    /// - Throws: shape/class mismatch between set and test set, soft labels requested but absent, bad config.
    public static func run(
        set: DistilledSet, test: ImageDataset, config: DistilledEvaluationConfig, path: String = "(distilled set)",
        progress: ((String) -> Void)? = nil
    ) throws(DistillationError) -> DistilledEvaluationResult {
        try config.validate()
        try set.validate(imageShape: test.imageShape, classCount: test.classCount, path: path)
        if config.labels == .soft && set.softLabels == nil { throw .missingSoftLabels(path: path) }
        var result = DistilledEvaluationResult(accuracies: [], finalLosses: [], seconds: [])
        for seed in config.seeds {
            let start = Date()
            let targets: Targets =
                config.labels == .soft
                ? .soft(set.softLabels!, temperature: set.softLabelTemperature ?? 1) : .hard(set.labels)
            let accuracy: Double, loss: Double
            if config.architecture == .deqS {
                let (model, l) = try trainDEQ(images: set.images, targets: targets, classCount: set.classCount, config: config, seed: seed)
                loss = l
                accuracy = self.accuracy(
                    logits: { x in model.classify(x, solver: deqSolver).logits }, images: test.images,
                    labels: test.labels, batchSize: config.evaluationBatchSize)
            } else {
                let (model, store, l) = train(
                    images: set.images, targets: targets, classCount: set.classCount,
                    config: config, seed: seed)
                loss = l
                accuracy = self.accuracy(
                    model: model, store: store, images: test.images, labels: test.labels,
                    batchSize: config.evaluationBatchSize)
            }
            let seconds = Date().timeIntervalSince(start)
            result.accuracies.append(accuracy)
            result.finalLosses.append(loss)
            result.seconds.append(seconds)
            progress?(
                String(
                    format: "seed %llu: accuracy %.2f %% (final loss %.4f, %.1f s)",
                    seed, accuracy * 100, loss, seconds))
        }
        return result
    }

    /// Training targets: hard labels, or rows of probabilities [N, K] at a temperature.
    public enum Targets: Sendable {
        case hard([Int])
        case soft(Tensor, temperature: Float)
    }

    /// Train one fresh student of `config.architecture` on `images` [N, H, W, C] with `targets`.
    /// Returns the model, its parameters and the mean loss of the last epoch.
    public static func train(
        images: Tensor, targets: Targets, classCount: Int, config: DistilledEvaluationConfig,
        seed: UInt64
    ) -> (model: Sequential, store: ParameterStore, finalLoss: Double) {
        let n = images.shape[0]
        let imageShape = Array(images.shape.dropFirst())
        let store = ParameterStore(seed: seed)
        let model = config.architecture.makeModel(imageShape: imageShape, classCount: classCount, width: config.width, in: store)
        store.gradients = [Float](repeating: 0, count: store.count)
        let batcher = Batcher(count: n, batchSize: min(config.batchSize, n), shuffle: true, seed: seed)
        let totalSteps = config.epochs * batcher.batchesPerEpoch
        let warmup = Int(Double(totalSteps) * config.warmupFraction)
        let schedule = LearningRateSchedule.cosine(
            base: config.learningRate, warmup: warmup,
            total: max(totalSteps, warmup + 1), floor: 0)
        var optimizer = try! AdamW(weightDecay: config.weightDecay)  // validated by config.validate()
        let inner = imageShape.reduce(1, *)
        var step = 0
        var epochLoss = 0.0, lastEpochLoss = 0.0
        // No closure below throws.
        try! TrainingLoop(batcher: batcher, learningRate: { schedule.lr(step: $0) })
            .run(
                epochs: 0..<config.epochs, step: &step, parameters: store, optimizer: &optimizer, statCount: 1,
                beforeEpoch: { _ in epochLoss = 0 },
                compute: { position, _ in
                    let batch = position.indices
                    var x = gather(images, rows: batch, inner: inner, imageShape: imageShape)
                    if config.maxShift > 0 {
                        x = shift(x, maxShift: config.maxShift, seed: seed, epoch: position.epoch, indices: batch)
                    }
                    let (logits, cache) = model.forward(x, store)
                    let (loss, grad): (Float, Tensor)
                    switch targets {
                    case let .hard(labels):
                        (loss, grad) = Loss.crossEntropy(logits: logits, labels: batch.map { labels[$0] })
                    case let .soft(probabilities, temperature):
                        let t = gather(probabilities, rows: batch, inner: classCount, imageShape: [classCount])
                        (loss, grad) = Loss.softCrossEntropy(logits: logits, targets: t, temperature: temperature)
                    }
                    _ = model.backward(grad, cache, store)
                    return [Double(loss)]
                },
                afterStep: { position, loss, _ in
                    epochLoss += loss[0] * Double(position.indices.count)
                }, afterEpoch: { _, _, _ in lastEpochLoss = epochLoss / Double(n) })
        return (model, store, lastEpochLoss)
    }

    static let deqSolver = SolverConfig(kind: .anderson, maxSteps: 18, tolerance: 1e-3, stopMode: .relative, returnLowestResidual: true)

    /// Train a fresh DEQ-S student (state channels = config.width, flatten head) with the same protocol as `train`:
    /// AdamW, cosine, shifts; implicit gradients through the fixed point. Returns the model and its last-epoch loss.
    public static func trainDEQ(
        images: Tensor, targets: Targets, classCount: Int, config: DistilledEvaluationConfig,
        seed: UInt64
    ) throws(DistillationError) -> (model: DEQSmall, finalLoss: Double) {
        let n = images.shape[0]
        let imageShape = Array(images.shape.dropFirst())
        let mean = images.scalars.reduce(0, +) / Float(max(images.count, 1))
        let std = (images.scalars.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(max(images.count, 1))).squareRoot()
        let c = DEQConfiguration(
            inputHeight: imageShape[0], inputWidth: imageShape[1], inputChannels: imageShape[2], classes: classCount,
            channels: config.width, expansion: 2, groups: config.width % 8 == 0 ? 8 : 1, head: .flatten,
            normalizationMean: mean, normalizationStd: max(std, 1e-3))
        let model: DEQSmall
        do { model = try DEQSmall(c, seed: seed) } catch {
            throw .invalidConfiguration(field: "deq-s student", value: "width \(config.width)", requirement: "a valid DEQ-S (\(error))")
        }
        let training = DEQTrainingConfig(
            forwardSolver: deqSolver,
            backward: .implicit(
                SolverConfig(
                    kind: .anderson, maxSteps: 10, tolerance: 1e-3,
                    stopMode: .relative, returnLowestResidual: true)),
            jacobianWeight: 0)
        let store = model.parameters
        let batcher = Batcher(count: n, batchSize: min(config.batchSize, n), shuffle: true, seed: seed)
        let totalSteps = config.epochs * batcher.batchesPerEpoch
        let warmup = Int(Double(totalSteps) * config.warmupFraction)
        let schedule = LearningRateSchedule.cosine(base: config.learningRate, warmup: warmup, total: max(totalSteps, warmup + 1), floor: 0)
        var optimizer = try! AdamW(weightDecay: config.weightDecay)
        let inner = imageShape.reduce(1, *)
        var step = 0, epochLoss = 0.0, lastEpochLoss = 0.0
        do {
            try TrainingLoop(batcher: batcher, learningRate: { schedule.lr(step: $0) })
                .run(
                    epochs: 0..<config.epochs, step: &step, parameters: store, optimizer: &optimizer, statCount: 1,
                    beforeEpoch: { _ in epochLoss = 0 },
                    compute: { position, _ in
                        let batch = position.indices
                        var x = gather(images, rows: batch, inner: inner, imageShape: imageShape)
                        if config.maxShift > 0 { x = shift(x, maxShift: config.maxShift, seed: seed, epoch: position.epoch, indices: batch) }
                        let r: DEQStepResult
                        switch targets {
                        case let .hard(labels):
                            r = model.trainingStep(x, labels: batch.map { labels[$0] }, config: training)
                        case let .soft(probabilities, temperature):
                            let t = gather(probabilities, rows: batch, inner: classCount, imageShape: [classCount])
                            r = model.trainingStep(x, labels: [Int](repeating: 0, count: batch.count), config: training) { logits, _ in
                                let (l, g) = Loss.softCrossEntropy(logits: logits, targets: t, temperature: temperature)
                                return (l, g, nil)
                            }
                        }
                        return [Double(r.loss)]
                    },
                    afterStep: { position, loss, _ in
                        epochLoss += loss[0] * Double(position.indices.count)
                    },
                    afterEpoch: { _, _, _ in
                        lastEpochLoss = epochLoss / Double(n)
                        guard lastEpochLoss.isFinite else {
                            throw DistillationError.invalidConfiguration(
                                field: "deq-s student loss", value: "\(lastEpochLoss)",
                                requirement: "finite (training diverged)")
                        }
                    })
        } catch let e as DistillationError {
            throw e
        } catch {
            preconditionFailure("only the divergence check throws here: \(error)")
        }
        return (model, lastEpochLoss)
    }

    /// Fraction of `images` [N, H, W, C] whose argmax of `logits(batch)` equals the label.
    public static func accuracy(logits: (Tensor) -> Tensor, images: Tensor, labels: [Int], batchSize: Int) -> Double {
        let n = images.shape[0]
        let inner = images.count / max(1, n)
        let imageShape = Array(images.shape.dropFirst())
        var correct = 0
        var start = 0
        while start < n {
            let rows = Array(start..<min(n, start + batchSize))
            let predicted = logits(gather(images, rows: rows, inner: inner, imageShape: imageShape)).argmaxRows()
            for (r, i) in rows.enumerated() where predicted[r] == labels[i] { correct += 1 }
            start += batchSize
        }
        return Double(correct) / Double(max(1, n))
    }

    /// Fraction of `images` [N, H, W, C] whose argmax logit equals the label.
    public static func accuracy(model: Sequential, store: ParameterStore, images: Tensor, labels: [Int], batchSize: Int) -> Double {
        accuracy(logits: { model($0, store) }, images: images, labels: labels, batchSize: batchSize)
    }

    /// Teacher soft labels for `set`: softmax(teacher(x)/T) row by row, [N, K], stored with T.
    public static func attachSoftLabels(
        to set: DistilledSet, teacher: Sequential, store: ParameterStore,
        temperature: Float, batchSize: Int = 500
    ) -> DistilledSet {
        precondition(temperature > 0, "temperature must be > 0")
        let n = set.count, k = set.classCount
        var probabilities = [Float](repeating: 0, count: n * k)
        var start = 0
        while start < n {
            let rows = Array(start..<min(n, start + batchSize))
            let logits = teacher(gather(set.images, rows: rows, inner: set.images.count / n, imageShape: set.imageShape), store)
            precondition(logits.shape == [rows.count, k], "teacher gives \(logits.shape), expected [\(rows.count), \(k)]")
            let scaled = logits.scalars.map { $0 / temperature }
            scaled.withUnsafeBufferPointer { src in
                probabilities.withUnsafeMutableBufferPointer { dst in
                    Softmax.forward(rows: rows.count, width: k, src.baseAddress!, dst.baseAddress! + start * k)
                }
            }
            start += batchSize
        }
        var out = set
        out.softLabels = Tensor(shape: [n, k], scalars: probabilities)
        out.softLabelTemperature = temperature
        return out
    }

    /// Rows `rows` of `source` (each `inner` scalars) as a tensor [rows.count] + imageShape.
    static func gather(_ source: Tensor, rows: [Int], inner: Int, imageShape: [Int]) -> Tensor {
        var out = [Float](repeating: 0, count: rows.count * inner)
        source.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (r, i) in rows.enumerated() {
                    for j in 0..<inner { dst[r * inner + j] = src[i * inner + j] }
                }
            }
        }
        return Tensor(shape: [rows.count] + imageShape, scalars: out)
    }

    /// Translate each image of `x` [B, H, W, C] by (dy, dx) ∈ [−s, s]², zero fill; the shift of image
    /// `indices[b]` in `epoch` comes from the stream keyed by (seed, "AUGM", epoch, index).
    public static func shift(_ x: Tensor, maxShift s: Int, seed: UInt64, epoch: Int, indices: [Int]) -> Tensor {
        let (b, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(indices.count == b, "one index per image")
        var y = Tensor(shape: x.shape)
        x.withUnsafeBufferPointer { src in
            y.withUnsafeMutableBufferPointer { dst in
                for n in 0..<b {
                    var rng = RandomStream(seed: seed, 0x4155_474D, UInt32(truncatingIfNeeded: epoch), UInt32(truncatingIfNeeded: indices[n]))
                    let dy = rng.randomInt(below: 2 * s + 1) - s, dx = rng.randomInt(below: 2 * s + 1) - s
                    for i in 0..<h {
                        let si = i - dy
                        guard si >= 0 && si < h else { continue }
                        for j in 0..<w {
                            let sj = j - dx
                            guard sj >= 0 && sj < w else { continue }
                            for ch in 0..<c { dst[((n * h + i) * w + j) * c + ch] = src[((n * h + si) * w + sj) * c + ch] }
                        }
                    }
                }
            }
        }
        return y
    }
}
