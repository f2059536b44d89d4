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
    /// A DEQ-S (`DEQCheckpoint`): anything else, whose loader then names what is wrong with the file.
    case deq = "deq-s"

    /// The kind of the checkpoint at `path`; an unreadable file counts as a DEQ (its loader reports the problem).
    public static func detect(_ path: String) -> CheckpointKind {
        if TextCheckpoint.isTextClassifier(path) { return .textClassifier }
        if ViTEvaluation.isViT(path) { return .vit }
        return .deq
    }
}

/// A DEQ checkpoint with the test split of its data set, checked to fit each other.
public struct CheckpointWithTestData {
    public let model: DEQSmall
    public let provenance: DEQCheckpoint.Provenance
    public let source: ImageDataSource
    public let test: ImageDataset

    /// Load `path`; the data set defaults to the one the checkpoint was trained on.
    public init(checkpoint path: String, data: String?) throws {
        let (m, prov, _) = try DEQCheckpoint.load(path)
        model = m; provenance = prov
        source = try ImageDataSource(parsing: data ?? prov.dataSet)
        test = try source.load(split: .test)
        try checkModelFitsData(m.configuration, test, source: source.rawValue)
    }
}

/// What `certify`/`predict` smooth: a DEQ checkpoint (standard or SRS) or a ViT checkpoint (standard smoothing,
/// with any attention rule installed) behind one classifier type, with its data set's test split and the
/// metadata for the manifest.
public struct SmoothingTarget {
    public let classifier: AnySmoothableClassifier
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
            classifier = AnySmoothableClassifier(ViTSmoothingClassifier(model: vit, parameters: p, normalization: src.normalization))
            source = src
            test = try src.load(split: .test)
            metadata = ["equicert.architecture": "vit", "equicert.data": trained.rawValue, "equicert.attention": rule]
        } else {
            guard attention.rule == .vanilla else {
                throw CoordinatorError.invalidOption(name: "attention", value: attention.rule.rawValue,
                                                     reason: "\(path) is not a transformer: it has no attention layers")
            }
            let loaded = try CheckpointWithTestData(checkpoint: path, data: data)
            classifier = AnySmoothableClassifier(EquilibriumClassifier(loaded.model))
            source = loaded.source
            test = loaded.test
            metadata = loaded.provenance.extra.merging(["equicert.data": loaded.provenance.dataSet,
                                                        "equicert.sigma": "\(loaded.provenance.sigma)"]) { a, _ in a }
        }
    }
}
