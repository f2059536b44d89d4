import Foundation
import Testing

@testable import Transformers

@Suite("WordPiece tokenizer")
struct WordPieceTokenizerTests {
    /// A small vocabulary to test the algorithm without the model files.
    static func toy() throws -> WordPieceTokenizer {
        try WordPieceTokenizer(tokens: [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "aff",
            "##a", "a", ",", "!", "hello", "world", "##s", "cafe", "中", "##b",
        ])
    }

    @Test("greedy longest-match-first with ## continuations; unmatched word → [UNK]")
    func greedy() throws {
        let t = try Self.toy()
        #expect(t.pieceTokens("unaffable") == ["un", "##aff", "##able"])
        #expect(t.pieceTokens("affa") == ["aff", "##a"])
        #expect(t.pieceTokens("unaffablex hello") == ["[UNK]", "hello"])  // remainder "x" unmatched
        #expect(t.pieceTokens("Hello, WORLDS!") == ["hello", ",", "world", "##s", "!"])
        #expect(t.pieceTokens("Café") == ["cafe"])
        #expect(t.pieceTokens("a中b") == ["a", "中", "[UNK]"])  // CJK isolated: "b" starts a new word
        #expect(t.pieceTokens("hello[MASK]world") == ["hello", "[MASK]", "world"])
    }

    @Test("word length limit: 100 scalars pass, 101 become [UNK]")
    func longWords() throws {
        let t = try Self.toy()
        #expect(t.pieces(String(repeating: "a", count: 100)) == [10] + [Int](repeating: 9, count: 99))
        #expect(t.pieceTokens(String(repeating: "a", count: 101)) == ["[UNK]"])
    }

    @Test("empty and blank text → [CLS][SEP]; truncation keeps [SEP] and is reported")
    func emptyAndTruncation() throws {
        let t = try Self.toy()
        #expect(t.encode("") == EncodedText(ids: [2, 3], truncated: false, pieceCount: 0))
        #expect(t.encode(" \t\n ").ids == [2, 3])
        let e = t.encode("hello world hello world", maxLength: 4)
        #expect(e.ids == [2, 13, 14, 3])
        #expect(e.truncated && e.pieceCount == 4)
        #expect(!t.encode("hello world", maxLength: 4).truncated)
    }

    @Test("batch: right padding with [PAD] = 0 and a 0/1 attention mask")
    func batch() throws {
        let t = try Self.toy()
        let b = t.encodeBatch(["hello world", "", "hello"])
        #expect(b.batchSize == 3 && b.length == 4)
        #expect(b.ids == [2, 13, 14, 3, 2, 3, 0, 0, 2, 13, 3, 0])
        #expect(b.attentionMask == [1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0])
        #expect(b.tokenCount(1) == 2)
        #expect(t.encodeBatch(["hello"], paddedLength: 6).length == 6)
    }

    @Test("invalid UTF-8 bytes are an error naming the offset; valid bytes encode like the String")
    func invalidUTF8() throws {
        let t = try Self.toy()
        #expect(try t.encode(bytes: Array("Café, hello".utf8)) == t.encode("Café, hello"))
        for (bytes, offset) in [
            ([0x68, 0x69, 0xFF], 2), ([0xC3], 0), ([0x61, 0xE2, 0x28, 0xA1], 1),
            ([0xC0, 0xAF], 0), ([0xED, 0xA0, 0x80], 0), ([0xF4, 0x90, 0x80, 0x80], 0),
            ([0x80], 0),
        ] as [([UInt8], Int)] {
            #expect(throws: TransformersError.invalidUTF8(offset: offset)) { try t.encode(bytes: bytes) }
        }
    }

    @Test("vocabulary without the special tokens, or empty, is an error")
    func badVocabulary() throws {
        #expect(throws: TransformersError.self) { try WordPieceTokenizer(tokens: []) }
        do {
            _ = try WordPieceTokenizer(tokens: ["[PAD]", "[UNK]", "[CLS]", "hello"])
            Issue.record("expected an error")
        } catch let e as TransformersError {
            #expect(e.description.contains("[SEP]"))
        }
        #expect(throws: TransformersError.self) {
            try WordPieceTokenizer(vocabulary: URL(fileURLWithPath: "/nonexistent/vocab.txt"))
        }
    }

    @Test(
        "ids equal Hugging Face tokenizers on tricky inputs (tokenizer.json of all-MiniLM-L6-v2)",
        .enabled(if: TestFixtures.miniLMDirectory != nil, TestFixtures.miniLMMissing))
    func matchesReference() throws {
        let dir = try #require(TestFixtures.miniLMDirectory)
        let t = try WordPieceTokenizer(vocabulary: dir.appendingPathComponent("vocab.txt"))
        #expect(t.vocabularySize == 30522)
        #expect([t.padID, t.unknownID, t.classID, t.separatorID] as [Int] == [0, 100, 101, 102])
        let fixture = try TestFixtures.decode(TestFixtures.TokenizerCases.self, "tokenizer-ids.json")
        #expect(fixture.cases.count >= 20)
        for c in fixture.cases {
            let e = t.encode(c.text, maxLength: fixture.maxLength)
            #expect(e.ids == c.ids, "\(c.text.debugDescription): \(e.ids.map { t.tokens[$0] }) vs \(c.tokens)")
            #expect(e.truncated == c.truncated, "\(c.text.debugDescription)")
        }
    }
}
