import Foundation
import NeuralNet
import TensorCore

/// A sequence classifier: a BERT-style encoder (MiniLM when fine-tuning) and a linear head on a pooled vector.
///
///     h = encoder(ids, mask) [B, T, H];  z = pool(h) [B, H];  logits = z·Wᵀ + b [B, K]
///
/// `pool` is the mean over real tokens (`SentencePooling.mean`, sentence-transformers' embedding) or the
/// [CLS] state h[:, 0, :] (BERT's convention). Encoder and head share ONE `ParameterStore`: the encoder's
/// slots carry the Hugging Face names (`embeddings.*`, `encoder.layer.L.*`), the head's are `classifier.weight`
/// [K, H] and `classifier.bias` [K], so a data-parallel all-reduce is one call and a checkpoint is one file.
public struct TextClassifier {
    /// How the token states become one vector per text.
    public enum Pooling: String, Sendable, CaseIterable {
        /// Mean over real (unpadded) tokens.
        case mean
        /// The state at position 0 ([CLS]).
        case cls
    }

    /// Slot-name prefix of the linear head.
    public static let headName = "classifier"

    public let configuration: BertConfiguration
    public let tokenizer: WordPieceTokenizer
    public var encoder: BertEncoder
    /// The linear head H → K (`classifier.weight`, `classifier.bias`).
    public let head: Dense
    /// Encoder and head parameters (and their gradients), one flat buffer.
    public let parameters: ParameterStore
    /// Class names; logit k belongs to `classNames[k]`.
    public let classNames: [String]
    public let pooling: Pooling

    /// Number of classes K.
    public var classCount: Int { classNames.count }

    /// A classifier with a freshly initialised encoder (BERT's N(0, initializerRange²) unless `initializer` is
    /// given) — for training from scratch and for tests. The head is initialised as by `init(pretrained:…)`.
    public init(
        configuration: BertConfiguration, tokenizer: WordPieceTokenizer, classNames: [String],
        pooling: Pooling = .mean, seed: UInt64 = 0, initializer: Initializer? = nil
    ) {
        precondition(
            tokenizer.vocabularySize == configuration.vocabularySize,
            "vocabulary \(tokenizer.vocabularySize) vs embedding rows \(configuration.vocabularySize)")
        let p = ParameterStore(seed: seed)
        let encoder = BertEncoder(configuration, in: p, initializer: initializer)
        self.init(
            encoder: encoder, tokenizer: tokenizer, parameters: p, classNames: classNames, pooling: pooling,
            seed: seed)
    }

    /// MiniLM (or any pretrained BERT encoder) plus a new head, registered in the encoder's own store.
    /// The head starts at W ~ N(0, 0.02²) from the counter-based stream keyed by (`seed`, "HEAD"), b = 0.
    /// `pretrained.parameters` becomes this classifier's store (it is a reference type: do not share it).
    public init(pretrained: PretrainedEncoder, classNames: [String], pooling: Pooling = .mean, seed: UInt64 = 0) {
        self.init(
            encoder: pretrained.encoder, tokenizer: pretrained.tokenizer, parameters: pretrained.parameters,
            classNames: classNames, pooling: pooling, seed: seed)
    }

    init(
        encoder: BertEncoder, tokenizer: WordPieceTokenizer, parameters p: ParameterStore, classNames: [String],
        pooling: Pooling, seed: UInt64
    ) {
        precondition(classNames.count >= 2, "a classifier needs at least two classes, got \(classNames)")
        let h = encoder.configuration.hiddenSize
        configuration = encoder.configuration
        self.tokenizer = tokenizer
        self.encoder = encoder
        self.classNames = classNames
        self.pooling = pooling
        parameters = p
        head = Dense(Self.headName, inFeatures: h, outFeatures: classNames.count, in: p, weightInit: .zeros)
        var stream = RandomStream(seed: seed, 0x4845_4144)  // "HEAD"
        p.set(head.weight, stream.gaussian(shape: [classNames.count, h], mean: 0, std: 0.02))
        if let b = head.bias { p.set(b, Tensor(shape: [classNames.count])) }
    }

    /// Tokenise texts for this classifier: [CLS] pieces [SEP], cut to `maxLength` tokens (the batch's
    /// `truncated` flags say which were cut), padded to the longest. Throws `badMaximumLength` unless
    /// 2 ≤ maxLength ≤ the position table, and `emptyText` for an empty or all-whitespace text.
    public func encode(_ texts: [String], maxLength: Int) throws -> [EncodedText] {
        try Self.checkMaximumLength(maxLength, configuration: configuration)
        return try texts.enumerated().map { i, text in
            guard !text.allSatisfy(\.isWhitespace) else { throw TransformersError.emptyText(index: i) }
            return tokenizer.encode(text, maxLength: maxLength)
        }
    }

    /// Throws `badMaximumLength` unless 2 ≤ `maxLength` ≤ `configuration.maxPositions`.
    public static func checkMaximumLength(_ maxLength: Int, configuration: BertConfiguration) throws {
        guard maxLength >= 2 && maxLength <= configuration.maxPositions else {
            throw TransformersError.badMaximumLength(value: maxLength, limit: configuration.maxPositions)
        }
    }

    /// A padded batch of already encoded texts.
    public func batch(_ encoded: [EncodedText]) -> TokenBatch { TokenBatch(encoded, paddingID: tokenizer.padID) }

    /// Pooled vectors [B, H] from token states [B, T, H].
    func pool(_ hidden: Tensor, mask: [Float]) -> Tensor {
        switch pooling {
        case .mean: return SentencePooling.mean(hidden, mask: mask)
        case .cls:
            let (b, t, h) = (hidden.shape[0], hidden.shape[1], hidden.shape[2])
            var y = Tensor(shape: [b, h])
            hidden.withUnsafeBufferPointer { px in
                y.withUnsafeMutableBufferPointer { py in
                    for s in 0..<b { for j in 0..<h { py[s * h + j] = px[s * t * h + j] } }
                }
            }
            return y
        }
    }

    /// Backward of `pool`: dL/dh [B, T, H] from dL/dz [B, H].
    func poolBackward(_ dz: Tensor, mask: [Float], length t: Int) -> Tensor {
        switch pooling {
        case .mean: return SentencePooling.meanBackward(dz, mask: mask, length: t)
        case .cls:
            let (b, h) = (dz.shape[0], dz.shape[1])
            var dx = Tensor(shape: [b, t, h])
            dz.withUnsafeBufferPointer { pd in
                dx.withUnsafeMutableBufferPointer { px in
                    for s in 0..<b { for j in 0..<h { px[s * t * h + j] = pd[s * h + j] } }
                }
            }
            return dx
        }
    }

    /// Logits [B, K] with the cache for `backward` (children: encoder, head; tensors: the mask [B, T]).
    public func forward(_ batch: TokenBatch) -> (logits: Tensor, cache: LayerCache) {
        let r = forwardPooled(batch)
        return (r.logits, r.cache)
    }

    /// `forward` that also returns the pooled sentence vectors [B, H] the head saw (a distillation target).
    public func forwardPooled(_ batch: TokenBatch) -> (logits: Tensor, pooled: Tensor, cache: LayerCache) {
        let (hidden, ce) = encoder.forward(batch, parameters)
        let pooled = pool(hidden, mask: batch.attentionMask)
        let (logits, ch) = head.forward(pooled, parameters)
        let mask = Tensor(shape: [batch.batchSize, batch.length], scalars: batch.attentionMask)
        return (logits, pooled, LayerCache(tensors: [mask], children: [ce, ch]))
    }

    /// Given dL/dlogits [B, K] (and optionally dL/dpooled [B, H] of a loss on the pooled vectors), accumulate
    /// every parameter's gradient (head and encoder) into `parameters`.
    public func backward(_ dLogits: Tensor, _ cache: LayerCache, pooledGradient: Tensor? = nil) {
        let mask = cache.tensors[0]
        var dPooled = head.backward(dLogits, cache.children[1], parameters)
        if let pooledGradient { dPooled += pooledGradient }
        let dHidden = poolBackward(dPooled, mask: mask.scalars, length: mask.shape[1])
        encoder.backward(dHidden, cache.children[0], parameters)
    }

    /// Inference logits [B, K] (no caches kept).
    public func logits(_ batch: TokenBatch) -> Tensor {
        head(pool(encoder(batch, parameters), mask: batch.attentionMask), parameters)
    }

    /// One training pass on a batch: mean cross-entropy L = −(1/B) Σ log softmax(logits)[y], gradients of L
    /// ADDED to `parameters.gradients` (zero them first), and the number of correct argmax predictions.
    public func trainingStep(_ batch: TokenBatch, labels: [Int]) -> (loss: Float, correct: Int) {
        precondition(
            labels.count == batch.batchSize && labels.allSatisfy { $0 >= 0 && $0 < classCount },
            "labels \(labels.count) for a batch of \(batch.batchSize), classes \(classCount)")
        let (logits, cache) = forward(batch)
        let (loss, g) = Loss.crossEntropy(logits: logits, labels: labels)
        backward(g, cache)
        return (loss, zip(logits.argmaxRows(), labels).filter { $0 == $1 }.count)
    }

    /// Predicted class indices for texts, in batches of `batchSize`, with whether each text was truncated.
    /// Errors as `encode`.
    public func predict(_ texts: [String], maxLength: Int, batchSize: Int = 32) throws -> (labels: [Int], truncated: [Bool]) {
        precondition(batchSize >= 1)
        let encoded = try encode(texts, maxLength: maxLength)
        var labels: [Int] = []
        var start = 0
        while start < encoded.count {
            let chunk = Array(encoded[start..<min(start + batchSize, encoded.count)])
            labels += logits(batch(chunk)).argmaxRows()
            start += chunk.count
        }
        return (labels, encoded.map(\.truncated))
    }
}
