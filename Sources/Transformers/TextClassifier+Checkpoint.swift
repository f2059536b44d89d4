import Foundation
import NeuralNet
import TensorCore

/// A self-contained classifier checkpoint: one safetensors file with every parameter under its slot name and,
/// in `__metadata__`, the architecture tag, the encoder configuration (JSON), the class names (JSON array),
/// the pooling and the WordPiece vocabulary (tokens joined by "\n"), so no model directory is needed to reload it.
extension TextClassifier {
    /// The value of `equicert.architecture` in a classifier checkpoint.
    public static let architecture = "minilm-classifier"
    public static let architectureKey = "equicert.architecture"
    static let configurationKey = "equicert.bert-configuration"
    static let classesKey = "equicert.classes"
    static let poolingKey = "equicert.pooling"
    static let vocabularyKey = "equicert.vocabulary"

    /// The metadata describing this model (architecture, configuration, classes, pooling, vocabulary).
    public var checkpointMetadata: [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let config = String(decoding: (try? encoder.encode(configuration)) ?? Data(), as: UTF8.self)
        let classes = String(decoding: (try? encoder.encode(classNames)) ?? Data(), as: UTF8.self)
        return [
            Self.architectureKey: Self.architecture, Self.configurationKey: config, Self.classesKey: classes,
            Self.poolingKey: pooling.rawValue, Self.vocabularyKey: tokenizer.tokens.joined(separator: "\n"),
        ]
    }

    /// Write parameters and `checkpointMetadata` merged with `metadata` (the model's keys win) atomically.
    public func save(to url: URL, metadata: [String: String] = [:], extra: [(name: String, tensor: Tensor)] = []) throws {
        try parameters.save(to: url, metadata: metadata.merging(checkpointMetadata) { _, model in model }, extra: extra)
    }

    /// Rebuild a classifier from a checkpoint written by `save`. Tensors whose names start with one of
    /// `ignoringPrefixes` (e.g. optimizer state) are skipped; any other missing, extra, mis-shaped or non-finite
    /// tensor is a `NeuralNetError` naming it; bad metadata is `TransformersError.badCheckpoint` naming the field.
    public static func load(from file: SafeTensorsFile, ignoringPrefixes: [String] = []) throws -> TextClassifier {
        let m = file.metadata, path = file.path
        func field(_ key: String) throws -> String {
            guard let v = m[key] else { throw TransformersError.badCheckpoint(path: path, field: key, reason: "missing") }
            return v
        }
        let arch = try field(architectureKey)
        guard arch == architecture else {
            throw TransformersError.badCheckpoint(
                path: path, field: architectureKey,
                reason: "'\(arch.prefix(40))' is not '\(architecture)'")
        }
        guard let config = try? JSONDecoder().decode(BertConfiguration.self, from: Data(try field(configurationKey).utf8)),
            config.hiddenSize > 0, config.headCount > 0, config.hiddenSize % config.headCount == 0,
            config.vocabularySize > 0, config.layerCount >= 0, config.intermediateSize > 0, config.maxPositions > 0,
            config.typeVocabularySize > 0
        else {
            throw TransformersError.badCheckpoint(path: path, field: configurationKey, reason: "not a valid encoder configuration")
        }
        guard let classes = try? JSONDecoder().decode([String].self, from: Data(try field(classesKey).utf8)),
            classes.count >= 2
        else {
            throw TransformersError.badCheckpoint(path: path, field: classesKey, reason: "not a JSON array of at least two names")
        }
        guard let pooling = Pooling(rawValue: try field(poolingKey)) else {
            throw TransformersError.badCheckpoint(
                path: path, field: poolingKey,
                reason: "expected one of \(Pooling.allCases.map(\.rawValue))")
        }
        let tokens = try field(vocabularyKey).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let tokenizer = try WordPieceTokenizer(tokens: tokens, path: path + " (metadata)")
        guard tokenizer.vocabularySize == config.vocabularySize else {
            throw TransformersError.vocabularyMismatch(
                path: path, vocabularySize: tokenizer.vocabularySize,
                embeddingRows: config.vocabularySize)
        }
        let model = TextClassifier(
            configuration: config, tokenizer: tokenizer, classNames: classes, pooling: pooling,
            initializer: .zeros)
        try model.parameters.load(from: file, allowUnexpected: false, ignoringPrefixes: ignoringPrefixes)
        return model
    }
}
