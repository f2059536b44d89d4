import Datasets
import Foundation
import NeuralNet
import RobustAttention
import TensorCore
import Transformers

/// Installing robust attention (docs/models.md §3) on the project's transformer checkpoints, with γ/δ
/// calibrated on clean TRAINING examples (never the test examples that are then attacked or certified).
public enum RobustModels {
    /// On a text classifier: calibration on the first `calibrationCount` texts of its training part.
    /// Returns the one-line description of the installed rule (per-layer γ/δ included).
    @discardableResult
    public static func install(
        _ settings: RobustAttentionSettings, on loaded: inout TextCheckpoint.Loaded,
        calibrationCount: Int, dataDirectory: String? = nil
    ) throws -> String {
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
    public static func install(
        _ settings: RobustAttentionSettings, on model: inout VisionTransformer, parameters p: ParameterStore,
        data: ImageDataSource, calibrationCount: Int
    ) throws -> String {
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
