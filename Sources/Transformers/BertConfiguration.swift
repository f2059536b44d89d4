import Foundation

/// Hyperparameters of a BERT-style post-LayerNorm encoder (Hugging Face `config.json` field names in comments).
public struct BertConfiguration: Sendable, Equatable, Codable {
    /// `vocab_size`: rows of the word-embedding matrix.
    public var vocabularySize: Int
    /// `hidden_size` H.
    public var hiddenSize: Int
    /// `num_hidden_layers`.
    public var layerCount: Int
    /// `num_attention_heads`; H must be divisible by it (head width d = H / heads).
    public var headCount: Int
    /// `intermediate_size`: width of the feed-forward layer.
    public var intermediateSize: Int
    /// `max_position_embeddings`: the longest sequence.
    public var maxPositions: Int
    /// `type_vocab_size`: segment types (only type 0 is used).
    public var typeVocabularySize: Int
    /// `layer_norm_eps`.
    public var layerNormEpsilon: Float
    /// `initializer_range`: std of the normal initialisation of weights and embeddings.
    public var initializerRange: Float

    public init(
        vocabularySize: Int, hiddenSize: Int, layerCount: Int, headCount: Int, intermediateSize: Int,
        maxPositions: Int, typeVocabularySize: Int = 2, layerNormEpsilon: Float = 1e-12,
        initializerRange: Float = 0.02
    ) {
        precondition(
            hiddenSize > 0 && headCount > 0 && hiddenSize % headCount == 0,
            "hidden size \(hiddenSize) not divisible by \(headCount) heads")
        precondition(
            vocabularySize > 0 && layerCount >= 0 && intermediateSize > 0 && maxPositions > 0
                && typeVocabularySize > 0)
        self.vocabularySize = vocabularySize; self.hiddenSize = hiddenSize; self.layerCount = layerCount
        self.headCount = headCount; self.intermediateSize = intermediateSize; self.maxPositions = maxPositions
        self.typeVocabularySize = typeVocabularySize; self.layerNormEpsilon = layerNormEpsilon
        self.initializerRange = initializerRange
    }

    /// Head width d = H / heads.
    public var headSize: Int { hiddenSize / headCount }

    /// all-MiniLM-L6-v2: 30522 tokens, H 384, 6 layers, 12 heads, FFN 1536, 512 positions, eps 1e-12.
    public static let miniLML6 = BertConfiguration(
        vocabularySize: 30522, hiddenSize: 384, layerCount: 6, headCount: 12,
        intermediateSize: 1536, maxPositions: 512)

    /// Read a Hugging Face BERT `config.json`. Only absolute positions and exact GELU are supported
    /// (other values are an error naming the field).
    public init(contentsOf url: URL) throws {
        let path = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TransformersError.fileUnreadable(path: path, reason: error.localizedDescription)
        }
        guard let object = try? JSONSerialization.jsonObject(with: data), let json = object as? [String: Any] else {
            throw TransformersError.badConfiguration(path: path, field: "(root)", reason: "not a JSON object")
        }
        func int(_ field: String) throws -> Int {
            guard let v = json[field] else {
                throw TransformersError.badConfiguration(path: path, field: field, reason: "missing")
            }
            guard let n = v as? NSNumber, let i = Int(exactly: n.doubleValue), i > 0 else {
                throw TransformersError.badConfiguration(path: path, field: field, reason: "\(v) is not a positive integer")
            }
            return i
        }
        func number(_ field: String, default d: Double) throws -> Float {
            guard let v = json[field] else { return Float(d) }
            guard let n = v as? NSNumber, n.doubleValue.isFinite, n.doubleValue >= 0 else {
                throw TransformersError.badConfiguration(path: path, field: field, reason: "\(v) is not a number ≥ 0")
            }
            return n.floatValue
        }
        if let act = json["hidden_act"] as? String, act != "gelu" {
            throw TransformersError.unsupportedConfiguration(path: path, field: "hidden_act", value: act)
        }
        if let pos = json["position_embedding_type"] as? String, pos != "absolute" {
            throw TransformersError.unsupportedConfiguration(path: path, field: "position_embedding_type", value: pos)
        }
        let hidden = try int("hidden_size"), heads = try int("num_attention_heads")
        guard hidden % heads == 0 else {
            throw TransformersError.badConfiguration(
                path: path, field: "num_attention_heads",
                reason: "\(heads) does not divide hidden_size \(hidden)")
        }
        self.init(
            vocabularySize: try int("vocab_size"), hiddenSize: hidden, layerCount: try int("num_hidden_layers"),
            headCount: heads, intermediateSize: try int("intermediate_size"),
            maxPositions: try int("max_position_embeddings"),
            typeVocabularySize: json["type_vocab_size"] == nil ? 2 : try int("type_vocab_size"),
            layerNormEpsilon: try number("layer_norm_eps", default: 1e-12),
            initializerRange: try number("initializer_range", default: 0.02))
    }
}
