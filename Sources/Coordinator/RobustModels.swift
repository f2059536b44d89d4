import Attacks
import Certification
import Equilibrium
import Datasets
import Foundation
import NeuralNet
import RobustAttention
import TensorCore
import Transformers

extension TextCheckpoint {
    /// The texts and labels of a part of the checkpoint's own split (the split file must match the data).
    public static func examples(_ loaded: Loaded, part: Part, dataDirectory: String? = nil) throws -> (texts: [String], labels: [Int]) {
        let data = try loaded.dataSet.load(directory: dataDirectory, limit: loaded.limit)
        guard data.classNames == loaded.model.classNames else {
            throw CoordinatorError.modelDataMismatch(model: "classes \(loaded.model.classNames)", data: loaded.dataSet.rawValue,
                                                     reason: "data has classes \(data.classNames)")
        }
        let split = try StratifiedSplit.read(from: loaded.splitPath)
        try split.check(labels: data.labels, path: loaded.splitPath)
        let indices = part == .train ? split.train : part == .validation ? split.validation : split.test
        return (indices.map { data.texts[$0] }, indices.map { data.labels[$0] })
    }
}

/// Installing robust attention (docs/protransformer.md) on the project's transformer checkpoints, with γ/δ
/// calibrated on clean TRAINING examples (never the test examples that are then attacked or certified).
public enum RobustModels {
    /// On a text classifier: calibration on the first `calibrationCount` texts of its training part.
    /// Returns the one-line description of the installed rule (per-layer γ/δ included).
    @discardableResult
    public static func install(_ settings: RobustAttentionSettings, on loaded: inout TextCheckpoint.Loaded,
                               calibrationCount: Int, dataDirectory: String? = nil) throws -> String {
        guard calibrationCount >= 1 else {
            throw CoordinatorError.invalidOption(name: "calibration-examples", value: "\(calibrationCount)", reason: "must be ≥ 1")
        }
        var texts: [String] = []
        if settings.needsCalibration {
            texts = Array(try TextCheckpoint.examples(loaded, part: .train, dataDirectory: dataDirectory).texts.prefix(calibrationCount))
        }
        let maxLength = loaded.maxLength
        let calibration = try loaded.model.installRobustAttention(settings) { model in
            let encoded = try model.encode(texts, maxLength: maxLength)
            var start = 0
            while start < encoded.count {
                _ = model.logits(model.batch(Array(encoded[start..<min(start + 16, encoded.count)])))
                start += 16
            }
        }
        return settings.summary(layers: loaded.model.attentionLayerCount, calibration: calibration)
    }

    /// On a ViT: calibration on the first `calibrationCount` training images of `data`.
    @discardableResult
    public static func install(_ settings: RobustAttentionSettings, on model: inout VisionTransformer, parameters p: ParameterStore,
                               data: ImageDataSource, calibrationCount: Int) throws -> String {
        guard calibrationCount >= 1 else {
            throw CoordinatorError.invalidOption(name: "calibration-examples", value: "\(calibrationCount)", reason: "must be ≥ 1")
        }
        var images: Tensor? = nil
        if settings.needsCalibration {
            let train = try data.load(split: .train)
            var (x, _) = train.batch(Array(0..<min(calibrationCount, train.count)))
            ViTEvaluation.standardize(&x, data.normalization)
            images = x
        }
        let calibration = try model.installRobustAttention(settings) { m in if let images { _ = m(images, p) } }
        return settings.summary(layers: model.attentionLayerCount, calibration: calibration)
    }
}

/// A ViT checkpoint as a differentiable classifier in [0, 1] pixel space (standardisation inside): the target of
/// PGD. Parameter gradients are switched off while attacking.
public struct ViTAttackTarget: DifferentiableImageClassifier {
    public let model: VisionTransformer
    public let parameters: ParameterStore
    public let normalization: (mean: Float, std: Float)

    public init(model: VisionTransformer, parameters: ParameterStore, normalization: (mean: Float, std: Float)) {
        self.model = model; self.parameters = parameters; self.normalization = normalization
    }

    public func logits(_ x: Tensor) -> Tensor {
        var s = x
        ViTEvaluation.standardize(&s, normalization)
        return model(s, parameters)
    }

    public func logitsAndGradient(_ x: Tensor, labels: [Int]) -> (logits: Tensor, gradient: Tensor) {
        var s = x
        ViTEvaluation.standardize(&s, normalization)
        let saved = parameters.accumulatesGradients
        parameters.accumulatesGradients = false
        defer { parameters.accumulatesGradients = saved }
        let (logits, cache) = model.forward(s, parameters)
        let (_, g) = Loss.crossEntropy(logits: logits, labels: labels)   // ∂(mean CE)/∂logits; the sign and direction are all PGD uses
        var dx = model.backward(g, cache, parameters)
        let inv = 1 / normalization.std
        dx.withUnsafeMutableBufferPointer { d in for i in 0..<d.count { d[i] *= inv } }
        return (logits, dx)
    }
}

/// A ViT checkpoint as a smoothable classifier (standard smoothing only: it has no state to warm-start):
/// x [B, H, W, C] in pixel space, standardised inside; one "evaluation" per sample.
public struct ViTSmoothingClassifier: SmoothableClassifier, @unchecked Sendable {
    // @unchecked: `parameters` is a reference type; each rank (thread) loads its own model.
    public let model: VisionTransformer
    public let parameters: ParameterStore
    public let normalization: (mean: Float, std: Float)

    public init(model: VisionTransformer, parameters: ParameterStore, normalization: (mean: Float, std: Float)) {
        self.model = model; self.parameters = parameters; self.normalization = normalization
    }

    public var classes: Int { model.configuration.classes }
    public var inputShape: [Int] { [model.configuration.imageHeight, model.configuration.imageWidth, model.configuration.channels] }
    public var supportsSerializedSmoothing: Bool { false }

    public func classify(_ x: Tensor, start: Tensor?, solver: SolverConfig) -> ClassifiedBatch {
        var s = x
        ViTEvaluation.standardize(&s, normalization)
        let b = x.shape[0]
        return ClassifiedBatch(predictions: model(s, parameters).argmaxRows(), state: nil, evaluations: 1,
                               diverged: Array(repeating: false, count: b))
    }
}

/// What `certify`/`predict` smooth: a DEQ checkpoint (standard or SRS) or a ViT checkpoint (standard smoothing,
/// with any attention rule installed), with its data set's test split and the metadata for the manifest.
public struct SmoothingTarget {
    public enum Model { case deq(DEQSmall), vit(ViTSmoothingClassifier) }
    public let model: Model
    public let source: ImageDataSource
    public let test: ImageDataset
    public let metadata: [String: String]

    /// Load `path` (the data set defaults to the checkpoint's). `attention` applies to ViTs only (a robust rule on
    /// a DEQ is an error: it has no attention layers).
    public init(checkpoint path: String, data: String?, attention: RobustAttentionSettings, calibrationCount: Int) throws {
        if ViTEvaluation.isViT(path) {
            var (vit, p, trained) = try ViTEvaluation.load(path)
            let src = try data.map(ImageDataSource.init(parsing:)) ?? trained
            guard src == trained else {
                throw CoordinatorError.modelDataMismatch(model: path, data: src.rawValue, reason: "the ViT was trained on \(trained.rawValue)")
            }
            let rule = try RobustModels.install(attention, on: &vit, parameters: p, data: trained, calibrationCount: calibrationCount)
            model = .vit(ViTSmoothingClassifier(model: vit, parameters: p, normalization: src.normalization))
            source = src
            test = try src.load(split: .test)
            metadata = ["equicert.architecture": "vit", "equicert.data": trained.rawValue, "equicert.attention": rule]
        } else {
            guard attention.rule == .vanilla else {
                throw CoordinatorError.invalidOption(name: "attention", value: attention.rule.rawValue,
                                                     reason: "\(path) is not a transformer: it has no attention layers")
            }
            let loaded = try CheckpointWithTestData(checkpoint: path, data: data)
            model = .deq(loaded.model)
            source = loaded.source
            test = loaded.test
            metadata = loaded.provenance.extra.merging(["equicert.data": loaded.provenance.dataSet,
                                                        "equicert.sigma": "\(loaded.provenance.sigma)"]) { a, _ in a }
        }
    }
}
