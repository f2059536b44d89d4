import Foundation
import NeuralNet
import TensorCore

/// A pretrained BERT-family encoder read from a Hugging Face model directory (e.g. all-MiniLM-L6-v2):
/// `config.json` (hyperparameters), `vocab.txt` (WordPiece vocabulary), `model.safetensors` (F32 weights).
///
/// Every encoder parameter must be in the checkpoint with exactly its shape and finite values (errors name the
/// tensor, nothing is half-loaded); `embeddings.position_ids` (I64) and `pooler.*` are ignored; any other extra
/// tensor is an error (another architecture). The vocabulary must have as many tokens as the word-embedding
/// matrix has rows.
public struct PretrainedEncoder {
    public let configuration: BertConfiguration
    public let tokenizer: WordPieceTokenizer
    public var encoder: BertEncoder
    /// All weights in one flat buffer (gradients too, for fine-tuning).
    public let parameters: ParameterStore
    /// The directory it was read from.
    public let directory: URL

    /// Tensors of a BERT checkpoint that the encoder does not use.
    public static let ignoredPrefixes = ["embeddings.position_ids", "pooler."]

    public init(directory: URL) throws {
        self.directory = directory
        let configURL = directory.appendingPathComponent("config.json")
        let vocabURL = directory.appendingPathComponent("vocab.txt")
        let weightsURL = directory.appendingPathComponent("model.safetensors")
        configuration = try BertConfiguration(contentsOf: configURL)
        tokenizer = try WordPieceTokenizer(vocabulary: vocabURL)
        let file = try SafeTensorsFile(contentsOf: weightsURL)
        let wordName = "embeddings.word_embeddings.weight"
        if file.contains(wordName), let rows = try file.info(wordName).shape.first, rows != tokenizer.vocabularySize {
            throw TransformersError.vocabularyMismatch(
                path: vocabURL.path, vocabularySize: tokenizer.vocabularySize,
                embeddingRows: rows)
        }
        guard configuration.vocabularySize == tokenizer.vocabularySize else {
            throw TransformersError.vocabularyMismatch(
                path: vocabURL.path, vocabularySize: tokenizer.vocabularySize,
                embeddingRows: configuration.vocabularySize)
        }
        let p = ParameterStore()
        encoder = BertEncoder(configuration, in: p, initializer: .zeros)  // overwritten by the checkpoint
        try p.load(from: file, allowUnexpected: false, ignoringPrefixes: Self.ignoredPrefixes)
        parameters = p
    }

    /// The default maximum length: 128 (the MiniLM tokenizer's truncation), or fewer if positions are fewer.
    public var defaultMaxLength: Int { min(128, configuration.maxPositions) }

    /// Tokenise (truncating to `maxLength` tokens, [CLS] and [SEP] included; default `defaultMaxLength`)
    /// and pad to the longest text.
    public func tokenize(_ texts: [String], maxLength: Int? = nil) throws -> TokenBatch {
        let maxLength = maxLength ?? defaultMaxLength
        guard maxLength >= 2 && maxLength <= configuration.maxPositions else {
            throw TransformersError.badMaximumLength(value: maxLength, limit: configuration.maxPositions)
        }
        return tokenizer.encodeBatch(texts, maxLength: maxLength)
    }

    /// Sentence embeddings [N, H]: mean of the last hidden states over real tokens, L2-normalised, computed in
    /// batches of `batchSize` texts. `truncated[i]` says whether text i was cut to `maxLength` tokens.
    public func sentenceEmbeddings(
        _ texts: [String], maxLength: Int? = nil,
        batchSize: Int = 32
    ) throws -> (embeddings: Tensor, truncated: [Bool]) {
        precondition(batchSize >= 1)
        var parts: [Tensor] = [], truncated: [Bool] = []
        var start = 0
        while start < texts.count {
            let chunk = Array(texts[start..<min(start + batchSize, texts.count)])
            let batch = try tokenize(chunk, maxLength: maxLength)
            let hidden = encoder(batch, parameters)
            parts.append(SentencePooling.l2Normalized(SentencePooling.mean(hidden, mask: batch.attentionMask)))
            truncated += batch.truncated
            start += chunk.count
        }
        let e = parts.isEmpty ? Tensor(shape: [0, configuration.hiddenSize]) : Tensor.concatenate(rows: parts)
        return (e, truncated)
    }
}
