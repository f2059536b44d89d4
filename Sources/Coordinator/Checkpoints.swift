import Certification
import Datasets
import Equilibrium
import Foundation
import NeuralNet
import RobustAttention
import Transformers

/// The checkpoint families equicert writes, told apart by the architecture key in their safetensors metadata.
/// Detection and loading live here so every job (certify, predict, evaluate, attack, prune) reads a model path
/// the same way.
public enum CheckpointKind: String, Sendable, CaseIterable {
    /// A fine-tuned MiniLM text classifier (`TextCheckpoint`).
    case textClassifier = "minilm-classifier"
    /// A vision transformer (`ViTEvaluation`).
    case vit
    /// A multiscale DEQ (`MDEQ`, family "mdeq" in the architecture JSON), trained here or imported from PyTorch.
    case mdeq
    /// A DEQ-S (`DEQCheckpoint`): anything else, whose loader then names what is wrong with the file.
    case deq = "deq-s"

    /// The kind of the checkpoint at `path`; an unreadable file counts as a DEQ (its loader reports the problem).
    public static func detect(_ path: String) -> CheckpointKind {
        if TextCheckpoint.isTextClassifier(path) { return .textClassifier }
        if ViTEvaluation.isViT(path) { return .vit }
        if DEQCheckpoint.isMDEQ(path) { return .mdeq }
        return .deq
    }
}

/// A DEQ of either family (DEQ-S or MDEQ) with its checkpoint's provenance.
public struct LoadedDEQ: @unchecked Sendable {
    /// The model; solvers, `DEQEvaluation` and `SolverStudy` take it as `some EquilibriumModel`.
    public let model: any EquilibriumModel
    /// Input image shape [H, W, c] (values in [0, 1]; normalisation is inside the model).
    public let inputShape: [Int]
    public let family: CheckpointKind
    public let provenance: DEQCheckpoint.Provenance

    /// Load a DEQ-S or an MDEQ checkpoint from `path`, by the family in its architecture JSON.
    public init(path: String) throws {
        if DEQCheckpoint.isMDEQ(path) {
            let (m, prov, _) = try DEQCheckpoint.loadMDEQ(path)
            model = m; inputShape = m.inputShape; family = .mdeq; provenance = prov
        } else {
            let (m, prov, _) = try DEQCheckpoint.load(path)
            let c = m.configuration
            model = m; inputShape = [c.inputHeight, c.inputWidth, c.inputChannels]; family = .deq; provenance = prov
        }
    }

    /// The model behind the certification protocol (standard and serialized smoothing).
    public var classifier: AnySmoothableClassifier {
        func wrap(_ m: some EquilibriumModel) -> AnySmoothableClassifier {
            AnySmoothableClassifier(EquilibriumClassifier(m, inputShape: inputShape))
        }
        return wrap(model)
    }

    /// Throws `modelDataMismatch` unless `data` has this model's image shape and class count.
    public func checkFits(_ data: ImageDataset, source: String) throws {
        guard data.imageShape == inputShape, data.classCount == model.classes else {
            throw CoordinatorError.modelDataMismatch(
                model: "\(family.rawValue) for \(inputShape) images, \(model.classes) classes",
                data: source, reason: "data has \(data.imageShape) images, \(data.classCount) classes")
        }
    }
}

/// A DEQ checkpoint (DEQ-S or MDEQ) with the test split of its data set, checked to fit each other.
public struct CheckpointWithTestData {
    public let loaded: LoadedDEQ
    public var model: any EquilibriumModel { loaded.model }
    public var provenance: DEQCheckpoint.Provenance { loaded.provenance }
    public let source: ImageDataSource
    public let test: ImageDataset

    /// Load `path`; the data set defaults to the one the checkpoint was trained on; `dataDirectory` overrides the
    /// data locator.
    public init(checkpoint path: String, data: String?, dataDirectory: String? = nil) throws {
        loaded = try LoadedDEQ(path: path)
        source = try ImageDataSource(parsing: data ?? loaded.provenance.dataSet)
        test = try source.load(split: .test, directory: dataDirectory)
        try loaded.checkFits(test, source: source.rawValue)
    }
}

/// What `certify`/`predict` smooth: a DEQ-S or MDEQ checkpoint (standard or SRS) or a ViT checkpoint (standard smoothing,
/// with any attention rule installed) behind one classifier type, with its data set's test split and the
/// metadata for the manifest.
public struct SmoothingTarget {
    public let classifier: AnySmoothableClassifier
    public let source: ImageDataSource
    public let test: ImageDataset
    public let metadata: [String: String]
    /// The DEQ behind `classifier` (nil for a ViT): its base classifier's logits feed `--outputs`.
    public let deq: LoadedDEQ?

    /// Load `path` (the data set defaults to the checkpoint's). `attention` applies to ViTs only (a robust rule on
    /// a DEQ is an error: it has no attention layers).
    public init(
        checkpoint path: String, data: String?, attention: RobustAttentionSettings, calibrationCount: Int,
        dataDirectory: String? = nil
    ) throws {
        if ViTEvaluation.isViT(path) {
            var (vit, p, trained) = try ViTEvaluation.load(path)
            let src = try data.map(ImageDataSource.init(parsing:)) ?? trained
            guard src == trained else {
                throw CoordinatorError.modelDataMismatch(model: path, data: src.rawValue, reason: "the ViT was trained on \(trained.rawValue)")
            }
            let rule = try RobustModels.install(attention, on: &vit, parameters: p, data: trained, calibrationCount: calibrationCount)
            classifier = AnySmoothableClassifier(ViTSmoothingClassifier(model: vit, parameters: p, normalization: src.normalization))
            source = src
            test = try src.load(split: .test, directory: dataDirectory)
            metadata = ["equicert.architecture": "vit", "equicert.data": trained.rawValue, "equicert.attention": rule]
            deq = nil
        } else {
            guard attention.rule == .vanilla else {
                throw CoordinatorError.invalidOption(
                    name: "attention", value: attention.rule.rawValue,
                    reason: "\(path) is not a transformer: it has no attention layers")
            }
            let loaded = try CheckpointWithTestData(checkpoint: path, data: data, dataDirectory: dataDirectory)
            classifier = loaded.loaded.classifier
            deq = loaded.loaded
            source = loaded.source
            test = loaded.test
            metadata = loaded.provenance.extra.merging([
                "equicert.data": loaded.provenance.dataSet,
                "equicert.sigma": "\(loaded.provenance.sigma)",
            ]) { a, _ in a }
        }
    }
}
