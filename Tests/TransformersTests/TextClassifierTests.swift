import Foundation
import NeuralNet
import TensorCore
import Testing
import _TestSupport

@testable import Transformers

@Suite("Text classifier (encoder + linear head)")
struct TextClassifierTests {
    static let config = BertConfiguration(
        vocabularySize: 12, hiddenSize: 8, layerCount: 2, headCount: 2,
        intermediateSize: 12, maxPositions: 8)
    static let vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "dog", "sat", "ran", "##s", "a", "."]
    static func tokenizer() throws -> WordPieceTokenizer { try WordPieceTokenizer(tokens: vocabulary) }

    static func model(_ pooling: TextClassifier.Pooling, seed: UInt64 = 3) throws -> TextClassifier {
        TextClassifier(
            configuration: config, tokenizer: try tokenizer(), classNames: ["x", "y", "z"], pooling: pooling,
            seed: seed, initializer: .normal(std: 0.5))
    }

    @Test(
        "parameters live in one store: encoder names as in the checkpoint, head as classifier.weight/bias",
        arguments: TextClassifier.Pooling.allCases)
    func layout(pooling: TextClassifier.Pooling) throws {
        let m = try Self.model(pooling)
        let names = m.parameters.slots.map(\.name)
        #expect(names.contains("embeddings.word_embeddings.weight"))
        #expect(names.contains("encoder.layer.1.output.LayerNorm.bias"))
        #expect(m.parameters.slot(named: "classifier.weight")?.shape == [3, 8])
        #expect(m.parameters.slot(named: "classifier.bias")?.shape == [3])
        #expect(names.last == "classifier.bias")
    }

    @Test(
        "cross-entropy gradient of every parameter (head and encoder, with padding) matches finite differences",
        arguments: TextClassifier.Pooling.allCases)
    func gradient(pooling: TextClassifier.Pooling) throws {
        let m = try Self.model(pooling)
        let batch = m.batch(try m.encode(["the cat sat .", "a dog", "the dogs ran"], maxLength: 8))
        #expect(batch.attentionMask.contains(0))  // padding present
        let labels = [2, 0, 1]
        let p = m.parameters
        p.zeroGradients()
        _ = m.trainingStep(batch, labels: labels)
        let analytic = p.gradients
        let saved = p.values
        let fd = finiteDifferenceGradient(saved, step: 1e-2) { v in
            p.values = v
            // Loss in Double from the logits, so the central difference is not lost to Float rounding.
            let z = m.logits(batch)
            var total = 0.0
            for (b, y) in labels.enumerated() {
                let row = (0..<3).map { Double(z[b, $0]) }
                let mx = row.max()!
                total += log(row.map { exp($0 - mx) }.reduce(0, +)) + mx - row[y]
            }
            return total / Double(labels.count)
        }
        p.values = saved
        let err = relativeNormError(analytic, fd)
        #expect(err < 1e-2, "relative gradient error \(err)")
        let headGrad = p.gradient(m.head.weight).maxAbs()
        let wordGrad = p.gradient(m.encoder.embeddings.word).maxAbs()
        #expect(headGrad > 0 && wordGrad > 0)
        #expect(m.forward(batch).logits == m.logits(batch))  // cached and inference paths agree
    }

    @Test("the two poolings differ, and the head is seeded")
    func poolingAndSeed() throws {
        let a = try Self.model(.mean), b = try Self.model(.cls), c = try Self.model(.mean, seed: 4)
        let batch = a.batch(try a.encode(["the cat sat", "dog"], maxLength: 8))
        #expect(a.logits(batch) != b.logits(batch))
        #expect(a.parameters.tensor(a.head.weight) != c.parameters.tensor(c.head.weight))
        #expect(a.parameters.tensor(a.head.bias!).maxAbs() == 0)
    }

    @Test("bad input: empty text and maximum lengths outside 2...positions are errors; truncation is reported")
    func badInput() throws {
        let m = try Self.model(.mean)
        #expect(throws: TransformersError.emptyText(index: 1)) { try m.encode(["the cat", "  \n"], maxLength: 8) }
        #expect(throws: TransformersError.badMaximumLength(value: 1, limit: 8)) { try m.encode(["the cat"], maxLength: 1) }
        #expect(throws: TransformersError.badMaximumLength(value: 9, limit: 8)) { try m.encode(["the cat"], maxLength: 9) }
        let (labels, truncated) = try m.predict(["the cat sat the dog ran", "a cat"], maxLength: 4, batchSize: 1)
        #expect(labels.count == 2 && labels.allSatisfy { (0..<3).contains($0) })
        #expect(truncated == [true, false])
    }

    @Test("checkpoint round trip: same logits; bad metadata and foreign checkpoints are named errors")
    func checkpoint() throws {
        let m = try Self.model(.cls)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("textclf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("m.safetensors")
        try m.save(
            to: url, metadata: ["equicert.data": "toy", Self.archKey: "overridden"],
            extra: [(name: "optimizer.exp_avg", tensor: Tensor(shape: [2]))])
        let file = try SafeTensorsFile(contentsOf: url)
        #expect(file.metadata["equicert.data"] == "toy" && file.metadata[Self.archKey] == "minilm-classifier")
        let r = try TextClassifier.load(from: file, ignoringPrefixes: ["optimizer."])
        #expect(r.classNames == ["x", "y", "z"] && r.pooling == .cls && r.tokenizer.tokens == Self.vocabulary)
        let batch = m.batch(try m.encode(["the cat sat", "dogs"], maxLength: 8))
        #expect(r.logits(batch) == m.logits(batch))
        // Without ignoring the optimizer tensor, it is an unexpected tensor, named.
        #expect(throws: NeuralNetError.self) { try TextClassifier.load(from: file) }
        // A DEQ (or any other) checkpoint is refused by its architecture field.
        let other = dir.appendingPathComponent("o.safetensors")
        try m.parameters.save(to: other, metadata: [Self.archKey: "{\"channels\":32}"])
        #expect(throws: TransformersError.self) { try TextClassifier.load(from: SafeTensorsFile(contentsOf: other)) }
        var meta = m.checkpointMetadata
        meta["equicert.classes"] = "[\"only-one\"]"
        try m.parameters.save(to: other, metadata: meta)
        #expect(
            throws: TransformersError.badCheckpoint(
                path: other.path, field: "equicert.classes",
                reason: "not a JSON array of at least two names")
        ) {
            try TextClassifier.load(from: SafeTensorsFile(contentsOf: other))
        }
    }

    static let archKey = "equicert.architecture"
}
