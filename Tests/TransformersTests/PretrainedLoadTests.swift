import Foundation
import NeuralNet
import TensorCore
import Testing
import _TestSupport

@testable import Transformers

/// A tiny model directory written by the test (config.json, vocab.txt, model.safetensors), then damaged.
struct TinyModelDirectory {
    static let config = BertConfiguration(
        vocabularySize: 9, hiddenSize: 8, layerCount: 2, headCount: 2,
        intermediateSize: 12, maxPositions: 16)
    static let vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s", "!"]
    let url: URL

    init(_ name: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("equicert-tf-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try writeConfig([:])
        try writeVocabulary(Self.vocabulary)
        try writeWeights { _ in }
    }

    func remove() { try? FileManager.default.removeItem(at: url) }

    func writeConfig(_ overrides: [String: Any], removing: [String] = []) throws {
        let c = Self.config
        var json: [String: Any] = [
            "architectures": ["BertModel"], "hidden_act": "gelu", "hidden_size": c.hiddenSize,
            "intermediate_size": c.intermediateSize, "layer_norm_eps": 1e-12,
            "max_position_embeddings": c.maxPositions, "num_attention_heads": c.headCount,
            "num_hidden_layers": c.layerCount, "type_vocab_size": 2, "vocab_size": c.vocabularySize,
            "position_embedding_type": "absolute",
        ]
        for (k, v) in overrides { json[k] = v }
        for k in removing { json[k] = nil }
        try JSONSerialization.data(withJSONObject: json).write(to: url.appendingPathComponent("config.json"))
    }

    func writeVocabulary(_ tokens: [String]) throws {
        try Data((tokens.joined(separator: "\n") + "\n").utf8).write(to: url.appendingPathComponent("vocab.txt"))
    }

    /// The tensors of a freshly initialised encoder (plus a pooler and position_ids-like extras), edited by `edit`.
    func writeWeights(_ edit: (inout [(name: String, tensor: Tensor)]) -> Void) throws {
        let p = ParameterStore(seed: 1)
        _ = BertEncoder(Self.config, in: p, initializer: .normal(std: 0.5))
        var tensors = p.slots.map { (name: $0.name, tensor: p.tensor($0)) }
        tensors.append((name: "pooler.dense.weight", tensor: Tensor(shape: [8, 8], repeating: 0.1)))
        tensors.append((name: "pooler.dense.bias", tensor: Tensor(shape: [8])))
        edit(&tensors)
        try SafeTensorsWriter.write(tensors: tensors, to: url.appendingPathComponent("model.safetensors"))
    }
}

@Suite("Pretrained encoder: loading and bad input")
struct PretrainedLoadTests {
    @Test("a complete directory loads; the weights are the file's; embeddings are unit vectors")
    func loads() throws {
        let dir = try TinyModelDirectory("ok"); defer { dir.remove() }
        let m = try PretrainedEncoder(directory: dir.url)
        #expect(m.configuration == TinyModelDirectory.config)
        let reference = ParameterStore(seed: 1)
        _ = BertEncoder(TinyModelDirectory.config, in: reference, initializer: .normal(std: 0.5))
        #expect(m.parameters.values == reference.values)
        let (e, truncated) = try m.sentenceEmbeddings(["Hello worlds!", "", "hello"], batchSize: 2)
        #expect(e.shape == [3, 8] && truncated == [false, false, false])
        for i in 0..<3 {
            var s: Float = 0
            for j in 0..<8 { s += e[i, j] * e[i, j] }
            #expect(abs(s - 1) < 1e-5)
        }
        // Batching does not change results (padding is masked).
        let alone = try m.sentenceEmbeddings(["hello"]).embeddings
        for j in 0..<8 { #expect(abs(alone[0, j] - e[2, j]) < 1e-5) }
    }

    @Test("over-long text is truncated to maxLength and reported; impossible lengths are errors")
    func truncation() throws {
        let dir = try TinyModelDirectory("trunc"); defer { dir.remove() }
        let m = try PretrainedEncoder(directory: dir.url)
        let long = Array(repeating: "hello", count: 40).joined(separator: " ")
        let (e, truncated) = try m.sentenceEmbeddings([long, "hello"], maxLength: 16)
        #expect(truncated == [true, false] && e.isFinite)
        let batch = try m.tokenize([long], maxLength: 16)
        #expect(batch.length == 16 && batch.ids.last == 3)
        #expect(throws: TransformersError.badMaximumLength(value: 17, limit: 16)) { try m.tokenize(["a"], maxLength: 17) }
        #expect(throws: TransformersError.badMaximumLength(value: 1, limit: 16)) { try m.tokenize(["a"], maxLength: 1) }
    }

    @Test("a missing tensor is named")
    func missingTensor() throws {
        let dir = try TinyModelDirectory("missing"); defer { dir.remove() }
        try dir.writeWeights { t in t.removeAll { $0.name == "encoder.layer.1.output.dense.bias" } }
        #expect(
            throws: NeuralNetError.parameterMissing(
                path: dir.url.appendingPathComponent("model.safetensors").path,
                tensor: "encoder.layer.1.output.dense.bias")
        ) {
            try PretrainedEncoder(directory: dir.url)
        }
    }

    @Test("a mis-shaped tensor is named with both shapes")
    func misshapedTensor() throws {
        let dir = try TinyModelDirectory("shape"); defer { dir.remove() }
        try dir.writeWeights { t in
            let i = t.firstIndex { $0.name == "encoder.layer.0.attention.self.key.weight" }!
            t[i].tensor = Tensor(shape: [8, 7])
        }
        do {
            _ = try PretrainedEncoder(directory: dir.url)
            Issue.record("expected an error")
        } catch let e as NeuralNetError {
            guard case let .parameterShapeMismatch(_, tensor, expected, found) = e else {
                Issue.record("wrong error \(e)"); return
            }
            #expect(tensor == "encoder.layer.0.attention.self.key.weight" && expected == [8, 8] && found == [8, 7])
        }
    }

    @Test("a tensor of another architecture is an error; pooler tensors are ignored")
    func unexpectedTensor() throws {
        let dir = try TinyModelDirectory("extra"); defer { dir.remove() }
        try dir.writeWeights { t in t.append((name: "classifier.weight", tensor: Tensor(shape: [2, 8]))) }
        #expect(throws: NeuralNetError.self) { try PretrainedEncoder(directory: dir.url) }
    }

    @Test("a vocabulary that does not match the embedding matrix is an error naming both sizes")
    func vocabularyMismatch() throws {
        let dir = try TinyModelDirectory("vocab"); defer { dir.remove() }
        try dir.writeVocabulary(TinyModelDirectory.vocabulary + ["extra"])
        #expect(
            throws: TransformersError.vocabularyMismatch(
                path: dir.url.appendingPathComponent("vocab.txt").path,
                vocabularySize: 10, embeddingRows: 9)
        ) {
            try PretrainedEncoder(directory: dir.url)
        }
    }

    @Test("configuration errors name the field")
    func badConfiguration() throws {
        let dir = try TinyModelDirectory("config"); defer { dir.remove() }
        let path = dir.url.appendingPathComponent("config.json").path
        try dir.writeConfig(["hidden_act": "relu"])
        #expect(throws: TransformersError.unsupportedConfiguration(path: path, field: "hidden_act", value: "relu")) {
            try PretrainedEncoder(directory: dir.url)
        }
        try dir.writeConfig([:], removing: ["hidden_size"])
        #expect(throws: TransformersError.badConfiguration(path: path, field: "hidden_size", reason: "missing")) {
            try PretrainedEncoder(directory: dir.url)
        }
        try dir.writeConfig(["num_attention_heads": 3])
        #expect(throws: TransformersError.self) { try PretrainedEncoder(directory: dir.url) }
        try Data("[1, 2]".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: TransformersError.self) { try PretrainedEncoder(directory: dir.url) }
        try FileManager.default.removeItem(atPath: path)
        #expect(throws: TransformersError.self) { try PretrainedEncoder(directory: dir.url) }
    }

    @Test("a replaced combiner changes only its layer's rule")
    func combinerReplacement() throws {
        /// Doubles A·V: a stand-in for another attention rule.
        struct Doubled: AttentionCombiner {
            func forward(attention: Tensor, values: Tensor) -> (output: Tensor, cache: LayerCache) {
                let (o, c) = WeightedSumCombiner().forward(attention: attention, values: values)
                return (2 * o, c)
            }
            func backward(_ g: Tensor, _ c: LayerCache) -> (attention: Tensor, values: Tensor) {
                WeightedSumCombiner().backward(2 * g, c)
            }
        }
        let dir = try TinyModelDirectory("combiner"); defer { dir.remove() }
        var m = try PretrainedEncoder(directory: dir.url)
        let batch = try m.tokenize(["hello world"])
        let before = m.encoder(batch, m.parameters)
        m.encoder.layers[1].attention.combiner = Doubled()
        let after = m.encoder(batch, m.parameters)
        #expect(relativeMaxError(before, after) > 1e-3)
        m.encoder.layers[1].attention.combiner = WeightedSumCombiner()
        #expect(m.encoder(batch, m.parameters) == before)
    }
}
