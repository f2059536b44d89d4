import Datasets
import Equilibrium
import Foundation
import NeuralNet
import Optimizers
import Pruning
import TensorCore
import Transformers

/// Knowledge distillation from the unpruned model while pruning (docs/models.md §4): the loss is
/// (1 − a)·CE + a·T²·softCE(teacher at T) + b·MSE(hidden state, teacher's hidden state).
public struct PruningDistillation: Sendable, Codable, Equatable {
    /// a: weight of the soft cross-entropy (the hard cross-entropy has 1 − a).
    public var softWeight: Float = 0.5
    /// b: weight of the hidden-state MSE (DEQ: the equilibrium state; text: the pooled sentence vector).
    public var hiddenWeight: Float = 1
    public var temperature: Float = 2
    public init(softWeight: Float = 0.5, hiddenWeight: Float = 1, temperature: Float = 2) {
        self.softWeight = softWeight; self.hiddenWeight = hiddenWeight; self.temperature = temperature
    }
    public func validate() throws {
        guard softWeight >= 0, softWeight <= 1 else {
            throw CoordinatorError.invalidOption(name: "distill-soft", value: "\(softWeight)", reason: "must be in [0, 1]")
        }
        guard hiddenWeight >= 0, hiddenWeight.isFinite else {
            throw CoordinatorError.invalidOption(name: "distill-hidden", value: "\(hiddenWeight)", reason: "must be ≥ 0")
        }
        guard temperature > 0, temperature.isFinite else {
            throw CoordinatorError.invalidOption(name: "distill-temperature", value: "\(temperature)", reason: "must be > 0")
        }
    }
}

/// DEQ-S as a pruning subject: Gaussian-noise training (σ of the checkpoint) with the Jacobian regulariser, as
/// in `DEQTrainingJob`; validation = a stratified hold-out of the training set; test = the test set. The
/// accuracy that selects and is reported is the accuracy under N(0, σ²) noise (what smoothing certifies);
/// clean accuracy is a detail.
public final class DEQPruningSubject: PruningSubject {
    public let model: DEQSmall
    let teacher: DEQSmall?
    let distillation: PruningDistillation
    public let train: ImageDataset
    public let validation: ImageDataset
    public let test: ImageDataset
    public let sigma: Float
    let config: DEQTrainingConfig
    let evaluationSolver = SolverConfig(kind: .anderson, maxSteps: 30, tolerance: 1e-3, stopMode: .relative)
    let seed: UInt64

    /// `validationCount` training images (stratified, by `seed`) are held out for selection; `trainLimit` > 0
    /// keeps a seeded random subset of that many of the rest for training; `testLimit` > 0 tests on a prefix.
    public init(
        model: DEQSmall, teacher: DEQSmall?, distillation: PruningDistillation, data: ImageDataSource, sigma: Float,
        validationCount: Int, trainLimit: Int, testLimit: Int = 0, seed: UInt64,
        config: DEQTrainingConfig = DEQTrainingConfig()
    ) throws {
        let full = try data.load(split: .train)
        let c = model.configuration
        guard full.imageShape == [c.inputHeight, c.inputWidth, c.inputChannels], full.classCount == c.classes else {
            throw CoordinatorError.modelDataMismatch(
                model: "deq-s \(c.inputHeight)×\(c.inputWidth)×\(c.inputChannels), \(c.classes) classes",
                data: data.rawValue, reason: "data has \(full.imageShape), \(full.classCount) classes")
        }
        guard validationCount >= 1, validationCount < full.count else {
            throw CoordinatorError.invalidOption(name: "validation", value: "\(validationCount)", reason: "must be in 1..<\(full.count)")
        }
        let split = try StratifiedSplit(
            labels: full.labels, train: 1 - Double(validationCount) / Double(full.count),
            validation: Double(validationCount) / Double(full.count), test: 0, seed: seed)
        var trainIdx = split.train
        if trainLimit > 0 && trainLimit < trainIdx.count {
            var rng = SplitMix64(seed: seed ^ 0x5052_554E)
            rng.shuffle(&trainIdx)
            trainIdx = Array(trainIdx.prefix(trainLimit)).sorted()
        }
        self.model = model; self.teacher = teacher; self.distillation = distillation
        self.train = full.subset(trainIdx, name: full.name)
        self.validation = full.subset(split.validation, name: full.name + " (held-out validation)")
        let t = try data.load(split: .test)
        self.test = testLimit > 0 && testLimit < t.count ? t.subset(Array(0..<testLimit), name: t.name) : t
        self.sigma = sigma; self.seed = seed; self.config = config
    }

    public var parameters: ParameterStore { model.parameters }
    public var trainingCount: Int { train.count }
    public var clipNorm: Float? { nil }
    public func makeOptimizer() throws -> any Optimizer { try Adam() }

    public func accumulateGradients(examples: [Int], key: UInt64) throws -> (loss: Double, correct: Int) {
        var (x, labels) = train.batch(examples)
        var noise = RandomStream(seed: key, 0x5052_554E)  // "PRUN"
        if sigma > 0 { x += noise.gaussian(shape: x.shape, mean: 0, std: sigma) }
        let eps = config.jacobianWeight > 0 ? noise.gaussian(shape: model.stateShape(batch: x.shape[0])) : nil
        var lossFunction: ((Tensor, Tensor) -> (loss: Float, logitsGradient: Tensor, stateGradient: Tensor?))? = nil
        if let teacher {
            let t = teacher.classify(x, solver: config.forwardSolver)
            let d = distillation
            lossFunction = { logits, state in
                let r = Loss.distillation(
                    logits: logits, labels: labels, teacherLogits: t.logits, temperature: d.temperature,
                    softWeight: d.softWeight, hidden: state, teacherHidden: t.state, hiddenWeight: d.hiddenWeight)
                return (r.loss, r.logitsGradient, r.hiddenGradient)
            }
        }
        let r = model.trainingStep(x, labels: labels, config: config, jacobianNoise: eps, loss: lossFunction)
        return (Double(r.loss), r.correct)
    }

    public func evaluate(_ part: PruningPart, limit: Int) throws -> (accuracy: Double, details: [String: Double]) {
        let data = part == .validation ? validation : test
        let n = limit > 0 ? min(limit, data.count) : data.count
        // Selection needs only the accuracy under noise; the test part also reports clean accuracy and residual.
        let r = DEQEvaluation.run(
            model: model, data: data, count: n, sigma: sigma, solver: evaluationSolver, seed: seed,
            clean: part == .test)
        var details = ["noisy": r.noisyAccuracy, "count": Double(n)]
        if part == .test { details["clean"] = r.cleanAccuracy; details["residual"] = r.meanResidual }
        return (sigma > 0 ? r.noisyAccuracy : r.cleanAccuracy, details)
    }
}

/// A MiniLM text classifier as a pruning subject: the parts of its own split file (train / validation / test),
/// AdamW with weight decay 0.01 (none on biases and LayerNorm), gradient clipping at 1, as in `TextTrainingJob`.
public final class TextPruningSubject: PruningSubject {
    public let model: TextClassifier
    let teacher: TextClassifier?
    let distillation: PruningDistillation
    let train: (encoded: [EncodedText], labels: [Int])
    let validation: (encoded: [EncodedText], labels: [Int])
    let test: (encoded: [EncodedText], labels: [Int])

    /// `trainLimit` > 0 keeps a seeded random subset of the training part of that size; `testLimit` > 0 a test prefix.
    public init(
        loaded: TextCheckpoint.Loaded, teacher: TextClassifier?, distillation: PruningDistillation,
        dataDirectory: String? = nil, trainLimit: Int, testLimit: Int = 0, seed: UInt64
    ) throws {
        func part(_ p: TextCheckpoint.Part, limit: Int = 0) throws -> ([EncodedText], [Int]) {
            var (texts, labels) = try TextCheckpoint.examples(loaded, part: p, dataDirectory: dataDirectory)
            if limit > 0 && limit < texts.count {
                var idx = Array(texts.indices)
                var rng = SplitMix64(seed: seed ^ 0x5052_554E)
                rng.shuffle(&idx)
                idx = Array(idx.prefix(limit)).sorted()
                texts = idx.map { texts[$0] }; labels = idx.map { labels[$0] }
            }
            return (try loaded.model.encode(texts, maxLength: loaded.maxLength), labels)
        }
        model = loaded.model; self.teacher = teacher; self.distillation = distillation
        train = try part(.train, limit: trainLimit)
        validation = try part(.validation)
        let t = try part(.test)
        test = testLimit > 0 && testLimit < t.1.count ? (Array(t.0.prefix(testLimit)), Array(t.1.prefix(testLimit))) : t
    }

    public var parameters: ParameterStore { model.parameters }
    public var trainingCount: Int { train.labels.count }
    public var clipNorm: Float? { 1 }
    public func makeOptimizer() throws -> any Optimizer {
        let noDecay = model.parameters.slots.filter { $0.name.hasSuffix(".bias") || $0.name.contains("LayerNorm") }.map(\.range)
        return try AdamW(weightDecay: 0.01, decayMask: .excluding(noDecay))
    }

    public func accumulateGradients(examples: [Int], key: UInt64) throws -> (loss: Double, correct: Int) {
        let batch = model.batch(examples.map { train.encoded[$0] })
        let labels = examples.map { train.labels[$0] }
        let (logits, pooled, cache) = model.forwardPooled(batch)
        var loss: Float, gLogits: Tensor, gPooled: Tensor? = nil
        if let teacher {
            let t = teacher.forwardPooled(batch)
            let d = distillation
            let r = Loss.distillation(
                logits: logits, labels: labels, teacherLogits: t.logits, temperature: d.temperature,
                softWeight: d.softWeight, hidden: pooled, teacherHidden: t.pooled, hiddenWeight: d.hiddenWeight)
            (loss, gLogits, gPooled) = (r.loss, r.logitsGradient, r.hiddenGradient)
        } else {
            (loss, gLogits) = Loss.crossEntropy(logits: logits, labels: labels)
        }
        model.backward(gLogits, cache, pooledGradient: gPooled)
        return (Double(loss), zip(logits.argmaxRows(), labels).filter { $0 == $1 }.count)
    }

    public func evaluate(_ part: PruningPart, limit: Int) throws -> (accuracy: Double, details: [String: Double]) {
        let d = part == .validation ? validation : test
        let n = limit > 0 ? min(limit, d.labels.count) : d.labels.count
        let r = try TextEvaluation.run(model, encoded: d.encoded, labels: d.labels, indices: Array(0..<n), batchSize: 64)
        return (r.accuracy, ["loss": r.loss, "count": Double(n)])
    }
}
