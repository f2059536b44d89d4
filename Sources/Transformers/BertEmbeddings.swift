import NeuralNet
import TensorCore

/// BERT input embeddings: e[b, t] = LN(word[ids[b, t]] + position[t] + tokenType[0]), LayerNorm over H.
///
/// Parameters: `<prefix>.word_embeddings.weight` [V, H], `<prefix>.position_embeddings.weight` [P, H],
/// `<prefix>.token_type_embeddings.weight` [types, H], `<prefix>.LayerNorm.{weight,bias}` [H].
/// Backward scatter-adds dL/d(sum) into the rows that were read (repeated ids accumulate).
public struct BertEmbeddings: Sendable {
    public let word: ParameterSlot, position: ParameterSlot, tokenType: ParameterSlot
    public let norm: LayerNormalization
    public let hiddenSize: Int, vocabularySize: Int, maxPositions: Int

    public init(_ prefix: String, configuration c: BertConfiguration, in p: ParameterStore, initializer: Initializer) {
        precondition(c.vocabularySize < 1 << 24, "token ids must be exact in Float")
        hiddenSize = c.hiddenSize; vocabularySize = c.vocabularySize; maxPositions = c.maxPositions
        word = p.register("\(prefix).word_embeddings.weight", shape: [c.vocabularySize, c.hiddenSize], initializer: initializer)
        position = p.register(
            "\(prefix).position_embeddings.weight", shape: [c.maxPositions, c.hiddenSize],
            initializer: initializer)
        tokenType = p.register(
            "\(prefix).token_type_embeddings.weight", shape: [c.typeVocabularySize, c.hiddenSize],
            initializer: initializer)
        norm = LayerNormalization("\(prefix).LayerNorm", width: c.hiddenSize, epsilon: c.layerNormEpsilon, in: p)
    }

    /// e [B, T, H]; the cache keeps the ids (as exact Floats) and the LayerNorm cache.
    public func forward(_ batch: TokenBatch, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        let (b, t, h) = (batch.batchSize, batch.length, hiddenSize)
        precondition(t <= maxPositions, "sequence length \(t) exceeds \(maxPositions) positions")
        var sum = Tensor(shape: [b, t, h])
        sum.withUnsafeMutableBufferPointer { ps in
            p.withValues(word) { w in
                p.withValues(position) { pos in
                    p.withValues(tokenType) { tt in
                        for s in 0..<b {
                            for i in 0..<t {
                                let id = batch.ids[s * t + i]
                                precondition(id >= 0 && id < vocabularySize, "token id \(id) outside the vocabulary of \(vocabularySize)")
                                let row = ps.baseAddress! + (s * t + i) * h, wr = w + id * h, pr = pos + i * h
                                for j in 0..<h { row[j] = wr[j] + pr[j] + tt[j] }
                            }
                        }
                    }
                }
            }
        }
        let (y, cn) = norm.forward(sum, p)
        let ids = Tensor(shape: [b, t], scalars: batch.ids.map { Float($0) })
        return (y, LayerCache(tensors: [ids], children: [cn]))
    }

    /// Scatter-add the gradients into the embedding rows (when `p.accumulatesGradients`) and return
    /// dL/d(word + position + type) [B, T, H], i.e. the gradient with respect to each token's input vector.
    @discardableResult
    public func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor {
        let ids = cache.tensors[0]
        let (b, t, h) = (ids.shape[0], ids.shape[1], hiddenSize)
        let de = norm.backward(dy, cache.children[0], p)
        guard p.accumulatesGradients else { return de }
        de.withUnsafeBufferPointer { pd in
            p.withGradients(word) { gw in
                for r in 0..<(b * t) {
                    let src = pd.baseAddress! + r * h, dst = gw + Int(ids.scalars[r]) * h
                    for j in 0..<h { dst[j] += src[j] }
                }
            }
            p.withGradients(position) { gp in
                for r in 0..<(b * t) {
                    let src = pd.baseAddress! + r * h, dst = gp + (r % t) * h
                    for j in 0..<h { dst[j] += src[j] }
                }
            }
            p.withGradients(tokenType) { gt in
                for r in 0..<(b * t) {
                    let src = pd.baseAddress! + r * h
                    for j in 0..<h { gt[j] += src[j] }
                }
            }
        }
        return de
    }
}
