import Foundation

/// The BERT uncased WordPiece tokenizer, matching Hugging Face `tokenizers` on a BERT `tokenizer.json`
/// (BertNormalizer with clean_text, handle_chinese_chars, lowercase and accent stripping; BertPreTokenizer;
/// WordPiece with `##` continuations and at most 100 characters per word; [CLS] … [SEP] template).
///
/// Pipeline for one text (all character logic on Unicode scalars, as the Rust implementation on `char`s):
/// 1. the special tokens [PAD] [UNK] [CLS] [SEP] [MASK] are matched verbatim in the raw text and kept whole;
/// 2. normalise the rest: drop U+0000, U+FFFD and "other" characters (Cc, Cf, Co, Cn, Cs) except tab/CR/LF,
///    map White_Space characters to a space, surround CJK ideographs with spaces, lower-case (full mapping,
///    per scalar), NFD and drop non-spacing marks (Mn);
/// 3. split on White_Space and isolate punctuation (ASCII punctuation and the Unicode P* categories);
/// 4. WordPiece each word: greedy longest-match-first against the vocabulary, continuation pieces looked up
///    with the `##` prefix; a word with an unmatched remainder or more than 100 scalars becomes [UNK].
///
/// Ids are line numbers of `vocab.txt` (0-based). Guarantee: deterministic, never traps on any `String`.
public struct WordPieceTokenizer: Sendable {
    /// Tokens by id.
    public let tokens: [String]
    /// Ids of the special tokens.
    public let padID: Int, unknownID: Int, classID: Int, separatorID: Int
    /// Words with more scalars than this become [UNK] (100, as in BERT).
    public let maxCharactersPerWord: Int
    /// Number of tokens (rows the word-embedding matrix must have).
    public var vocabularySize: Int { tokens.count }

    private let startTrie: ScalarTrie  // every vocabulary entry, for the first piece of a word
    private let continuationTrie: ScalarTrie  // entries starting with "##", prefix removed
    private let specials: [(scalars: [Unicode.Scalar], id: Int)]

    /// Read `vocab.txt`: one token per line, id = line number. Needs [PAD], [UNK], [CLS] and [SEP].
    public init(vocabulary url: URL, maxCharactersPerWord: Int = 100) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TransformersError.fileUnreadable(path: url.path, reason: error.localizedDescription)
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw TransformersError.badVocabulary(path: url.path, reason: "not valid UTF-8")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        if lines.last == "" { lines.removeLast() }
        try self.init(tokens: lines, path: url.path, maxCharactersPerWord: maxCharactersPerWord)
    }

    /// A tokenizer over an in-memory vocabulary (id = index).
    public init(tokens: [String], path: String = "(in memory)", maxCharactersPerWord: Int = 100) throws {
        guard !tokens.isEmpty else { throw TransformersError.badVocabulary(path: path, reason: "no tokens") }
        var index: [String: Int] = [:]
        var start = ScalarTrie(), continuation = ScalarTrie()
        for (id, token) in tokens.enumerated() {
            let scalars = Array(token.unicodeScalars)
            index[token] = id
            start.insert(scalars, id: id)
            if scalars.count > 2 && scalars[0] == "#" && scalars[1] == "#" {
                continuation.insert(Array(scalars[2...]), id: id)
            }
        }
        func special(_ name: String) throws -> Int {
            guard let id = index[name] else {
                throw TransformersError.badVocabulary(path: path, reason: "missing special token \(name)")
            }
            return id
        }
        self.tokens = tokens
        padID = try special("[PAD]"); unknownID = try special("[UNK]")
        classID = try special("[CLS]"); separatorID = try special("[SEP]")
        self.maxCharactersPerWord = maxCharactersPerWord
        startTrie = start; continuationTrie = continuation
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].compactMap { name in
            index[name].map { (Array(name.unicodeScalars), $0) }
        }
    }

    // MARK: encoding

    /// The word pieces of `text` (no [CLS]/[SEP], no truncation), as ids.
    public func pieces(_ text: String) -> [Int] {
        var out: [Int] = []
        let scalars = Array(text.unicodeScalars)
        var segmentStart = 0, i = 0
        while i < scalars.count {
            if scalars[i] == "[", let (length, id) = specialMatch(scalars, at: i) {
                wordPieces(of: Array(scalars[segmentStart..<i]), into: &out)
                out.append(id)
                i += length
                segmentStart = i
            } else {
                i += 1
            }
        }
        wordPieces(of: Array(scalars[segmentStart...]), into: &out)
        return out
    }

    /// The token strings of `text`'s word pieces (for inspection and tests).
    public func pieceTokens(_ text: String) -> [String] { pieces(text).map { tokens[$0] } }

    /// [CLS] pieces [SEP], keeping the first `maxLength − 2` pieces (and reporting whether any were dropped).
    /// An empty or all-whitespace text gives [CLS][SEP]. `maxLength` must be at least 2.
    public func encode(_ text: String, maxLength: Int = 128) -> EncodedText {
        precondition(maxLength >= 2, "maxLength \(maxLength) cannot hold [CLS] and [SEP]")
        let p = pieces(text)
        let kept = min(p.count, maxLength - 2)
        return EncodedText(ids: [classID] + p[0..<kept] + [separatorID], truncated: kept < p.count, pieceCount: p.count)
    }

    /// Encode UTF-8 bytes; invalid UTF-8 is an error naming the first bad byte's offset (never repaired silently).
    public func encode(bytes: some Collection<UInt8>, maxLength: Int = 128) throws -> EncodedText {
        encode(try Self.decodeUTF8(bytes), maxLength: maxLength)
    }

    /// Encode texts and right-pad them to the longest (or to `paddedLength`) with [PAD], with an attention mask.
    public func encodeBatch(_ texts: [String], maxLength: Int = 128, paddedLength: Int? = nil) -> TokenBatch {
        TokenBatch(texts.map { encode($0, maxLength: maxLength) }, length: paddedLength, paddingID: padID)
    }

    /// Strict UTF-8 decoding (no overlong forms, no surrogates, ≤ U+10FFFF).
    public static func decodeUTF8(_ bytes: some Collection<UInt8>) throws -> String {
        let b = Array(bytes)
        var i = 0
        while i < b.count {
            let b0 = b[i]
            if b0 < 0x80 { i += 1; continue }
            let length: Int, minimum: UInt32
            if b0 & 0xE0 == 0xC0 {
                length = 2; minimum = 0x80
            } else if b0 & 0xF0 == 0xE0 {
                length = 3; minimum = 0x800
            } else if b0 & 0xF8 == 0xF0 {
                length = 4; minimum = 0x10000
            } else {
                throw TransformersError.invalidUTF8(offset: i)
            }
            guard i + length <= b.count else { throw TransformersError.invalidUTF8(offset: i) }
            var cp = UInt32(b0) & (0x7F >> UInt32(length))
            for k in 1..<length {
                guard b[i + k] & 0xC0 == 0x80 else { throw TransformersError.invalidUTF8(offset: i) }
                cp = cp << 6 | UInt32(b[i + k] & 0x3F)
            }
            guard cp >= minimum, cp <= 0x10FFFF, !(0xD800...0xDFFF).contains(cp) else {
                throw TransformersError.invalidUTF8(offset: i)
            }
            i += length
        }
        return String(decoding: b, as: UTF8.self)
    }

    // MARK: internals

    private func specialMatch(_ s: [Unicode.Scalar], at i: Int) -> (Int, Int)? {
        for (pattern, id) in specials where i + pattern.count <= s.count {
            var ok = true
            for k in 0..<pattern.count where s[i + k] != pattern[k] { ok = false; break }
            if ok { return (pattern.count, id) }
        }
        return nil
    }

    private func wordPieces(of segment: [Unicode.Scalar], into out: inout [Int]) {
        guard !segment.isEmpty else { return }
        for word in BasicTokenization.words(BasicTokenization.normalize(segment)) {
            if word.count > maxCharactersPerWord { out.append(unknownID); continue }
            let before = out.count
            var start = 0
            var failed = false
            while start < word.count {
                let trie = start == 0 ? startTrie : continuationTrie
                guard let (length, id) = trie.longestMatch(word, from: start) else { failed = true; break }
                out.append(id)
                start += length
            }
            if failed {
                out.removeSubrange(before...)
                out.append(unknownID)
            }
        }
    }
}

/// A prefix tree over Unicode scalars: longest vocabulary entry starting at a position.
struct ScalarTrie: Sendable {
    private var children: [[UInt32: Int32]] = [[:]]
    private var terminal: [Int32] = [-1]

    mutating func insert(_ s: [Unicode.Scalar], id: Int) {
        guard !s.isEmpty else { return }
        var node = 0
        for c in s {
            if let next = children[node][c.value] { node = Int(next); continue }
            children.append([:]); terminal.append(-1)
            children[node][c.value] = Int32(children.count - 1)
            node = children.count - 1
        }
        terminal[node] = Int32(id)  // a duplicate line overrides the earlier one, as in the reference
    }

    /// (length, id) of the longest entry equal to `s[from..<from+length]`, or nil.
    func longestMatch(_ s: [Unicode.Scalar], from: Int) -> (Int, Int)? {
        var node = 0, best: (Int, Int)? = nil
        var i = from
        while i < s.count, let next = children[node][s[i].value] {
            node = Int(next); i += 1
            if terminal[node] >= 0 { best = (i - from, Int(terminal[node])) }
        }
        return best
    }
}
