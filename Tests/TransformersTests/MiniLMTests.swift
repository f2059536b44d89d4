import Foundation
import NeuralNet
import TensorCore
import Testing

@testable import Transformers

@Suite("all-MiniLM-L6-v2 import", .enabled(if: TestFixtures.miniLMDirectory != nil, TestFixtures.miniLMMissing))
struct MiniLMTests {
    static func model() throws -> PretrainedEncoder {
        try PretrainedEncoder(directory: #require(TestFixtures.miniLMDirectory))
    }

    @Test("sentence embeddings equal transformers + mean pooling (all 384 values, 1e-5)")
    func sentenceEmbeddings() throws {
        let m = try Self.model()
        let fixture = try TestFixtures.decode(TestFixtures.Embeddings.self, "sentence-embeddings.json")
        #expect(fixture.sentences.count >= 4)
        #expect(fixture.sentences[0].text == "This is an example sentence")
        // All sentences in one padded batch: exercises the padding mask too.
        let (e, truncated) = try m.sentenceEmbeddings(fixture.sentences.map(\.text))
        #expect(e.shape == [fixture.sentences.count, 384])
        #expect(!truncated.contains(true))
        for (i, s) in fixture.sentences.enumerated() {
            #expect(m.tokenizer.encode(s.text).ids == s.ids)
            var worst: Float = 0
            for j in 0..<384 { worst = max(worst, abs(e[i, j] - s.embedding[j])) }
            #expect(worst < 1e-5, "\(s.text): max deviation \(worst)")
        }
        #expect(abs(e[0, 0] - 0.067657) < 5e-7 && abs(e[0, 1] - 0.063496) < 5e-7)
    }

    @Test("last hidden state of one sentence equals the reference")
    func lastHiddenState() throws {
        let m = try Self.model()
        let f = try TestFixtures.decode(TestFixtures.HiddenState.self, "last-hidden-state.json")
        let batch = try m.tokenize([f.text])
        #expect(batch.ids == f.ids)
        let h = m.encoder(batch, m.parameters)
        #expect(h.shape == [1] + f.shape)
        var worst: Float = 0
        for i in 0..<h.count { worst = max(worst, abs(h.scalars[i] - f.values[i])) }
        #expect(worst < 2e-5, "max deviation \(worst)")  // states are O(1); observed 2e-6
    }
}
