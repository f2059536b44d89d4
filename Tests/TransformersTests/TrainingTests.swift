import NeuralNet
import TensorCore
import Testing
import _TestSupport

@testable import Transformers

@Suite("Tiny encoder training")
struct TrainingTests {
    @Test("a randomly initialised 2-layer encoder + linear head fits 8 sequences (order matters) to near-zero loss")
    func fitsTinyTask() {
        let config = BertConfiguration(
            vocabularySize: 10, hiddenSize: 16, layerCount: 2, headCount: 2,
            intermediateSize: 32, maxPositions: 8)
        let p = ParameterStore(seed: 7)
        let encoder = BertEncoder(config, in: p, initializer: .normal(std: 0.3))
        let head = Dense("head", inFeatures: 16, outFeatures: 4, in: p)
        // [CLS] = 1, [SEP] = 2; classes 0 and 1 hold the same tokens in opposite orders.
        let sequences: [[Int]] = [
            [1, 3, 4, 5, 2], [1, 5, 4, 3, 2], [1, 6, 6, 2], [1, 7, 8, 9, 3, 2],
            [1, 3, 4, 2], [1, 4, 3, 2], [1, 6, 2], [1, 9, 8, 7, 2],
        ]
        let labels = [0, 1, 2, 3, 0, 1, 2, 3]
        let batch = TokenBatch(sequences.map { EncodedText(ids: $0, truncated: false, pieceCount: $0.count - 2) })
        func step() -> Float {
            p.zeroGradients()
            let (h, ce) = encoder.forward(batch, p)
            let pooled = SentencePooling.mean(h, mask: batch.attentionMask)
            let (logits, ch) = head.forward(pooled, p)
            let (loss, g) = Loss.crossEntropy(logits: logits, labels: labels)
            let dPooled = head.backward(g, ch, p)
            encoder.backward(SentencePooling.meanBackward(dPooled, mask: batch.attentionMask, length: batch.length), ce, p)
            return loss
        }
        let initial = step()
        var loss = initial
        // Plain gradient descent with momentum 0.9 (kept in the test: Optimizers is not a dependency here).
        var velocity = [Float](repeating: 0, count: p.count)
        for _ in 0..<150 {
            for i in 0..<p.count {
                velocity[i] = 0.9 * velocity[i] + p.gradients[i]
                p.values[i] -= 0.05 * velocity[i]
            }
            loss = step()
        }
        #expect(initial > 1.0)
        #expect(loss < 0.02, "loss \(initial) → \(loss)")
        #expect(p.isFinite)
    }
}
