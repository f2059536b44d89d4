/// One text's token ids after WordPiece, with [CLS] … [SEP] and whether the text was cut to fit.
public struct EncodedText: Sendable, Equatable {
    /// Token ids, `[CLS]` first and `[SEP]` last; at most the maximum length.
    public var ids: [Int]
    /// True when word pieces were dropped to fit the maximum length.
    public var truncated: Bool
    /// Number of word pieces before truncation (special tokens excluded).
    public var pieceCount: Int

    public init(ids: [Int], truncated: Bool, pieceCount: Int) {
        self.ids = ids; self.truncated = truncated; self.pieceCount = pieceCount
    }
}

/// A padded batch of token sequences: ids [B, T] row-major, padding id 0, and an attention mask [B, T]
/// (1 on real tokens, 0 on padding). All sequences use token type 0 (single segment).
public struct TokenBatch: Sendable, Equatable {
    /// Sequences B.
    public let batchSize: Int
    /// Padded length T.
    public let length: Int
    /// Token ids, `ids[b·T + t]`.
    public var ids: [Int]
    /// 1 where a real token is, 0 on padding, `attentionMask[b·T + t]`.
    public var attentionMask: [Float]
    /// Per sequence: whether the text was truncated to fit the maximum length.
    public var truncated: [Bool]

    /// A batch from explicit ids and mask (both of B·T elements); every sequence must hold at least one token.
    public init(batchSize: Int, length: Int, ids: [Int], attentionMask: [Float], truncated: [Bool]? = nil) {
        precondition(batchSize >= 0 && length >= 1, "batch \(batchSize) × \(length)")
        precondition(
            ids.count == batchSize * length && attentionMask.count == ids.count,
            "ids \(ids.count) / mask \(attentionMask.count) for \(batchSize)×\(length)")
        self.batchSize = batchSize; self.length = length
        self.ids = ids; self.attentionMask = attentionMask
        self.truncated = truncated ?? [Bool](repeating: false, count: batchSize)
    }

    /// Right-pad encoded texts with `paddingID` to `length` (default: the longest sequence).
    public init(_ texts: [EncodedText], length: Int? = nil, paddingID: Int = 0) {
        let longest = texts.map(\.ids.count).max() ?? 1
        let t = length ?? max(longest, 1)
        precondition(t >= longest, "padding length \(t) shorter than the longest sequence \(longest)")
        var ids = [Int](repeating: paddingID, count: texts.count * t)
        var mask = [Float](repeating: 0, count: texts.count * t)
        for (b, e) in texts.enumerated() {
            for (i, id) in e.ids.enumerated() { ids[b * t + i] = id; mask[b * t + i] = 1 }
        }
        self.init(batchSize: texts.count, length: t, ids: ids, attentionMask: mask, truncated: texts.map(\.truncated))
    }

    /// Number of real (unpadded) tokens of sequence `b`.
    public func tokenCount(_ b: Int) -> Int {
        var n = 0
        for t in 0..<length where attentionMask[b * length + t] != 0 { n += 1 }
        return n
    }
}
