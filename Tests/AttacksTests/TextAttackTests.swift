// Text attacks on synthetic victims whose behaviour is known: segmentation, seeded character edits, embedding
// neighbours, and both attacks flipping a keyword classifier the way they should (and respecting their budgets).
import Foundation
import TensorCore
import Testing
import Transformers

@testable import Attacks

/// Class 1 ("positive") with probability rising with the number of exact occurrences of "good"/"great"; class 0 else.
struct KeywordVictim: TextVictim {
    var classCount: Int { 2 }
    func probabilities(_ texts: [String]) -> [[Float]?] {
        texts.map { t in
            let w = TextWords(t).words.map { $0.lowercased() }
            guard !w.isEmpty else { return nil }
            let hits = Float(w.filter { $0 == "good" || $0 == "great" }.count)
            let p1 = 1 / (1 + expf(-(2 * hits - 1)))
            return [1 - p1, p1]
        }
    }
    func visibleWordCount(_ words: TextWords) -> Int { words.count }
}

@Suite("Text attacks")
struct TextAttackTests {
    @Test("words and separators rebuild the text exactly; replacing and removing words")
    func segmentation() {
        let t = "It's a well-made, dull film... (2024)"
        let w = TextWords(t)
        #expect(w.words == ["It's", "a", "well-made", "dull", "film", "2024"])
        #expect(w.render() == t)
        #expect(w.render(replacing: [3: "sharp"]) == "It's a well-made, sharp film... (2024)")
        #expect(w.render(replacing: [1: ""]) == "It's well-made, dull film... (2024)")
        #expect(TextWords("").count == 0 && TextWords("").render() == "")
        #expect(TextWords("  ,.  ").render() == "  ,.  ")
    }

    @Test("character edits: seeded, distinct from the word, of the four kinds")
    func characterEdits() {
        let a = TextAttack.characterEdits(of: "terrible", seed: 1, example: 3, position: 2)
        #expect(a == TextAttack.characterEdits(of: "terrible", seed: 1, example: 3, position: 2))
        #expect(a != TextAttack.characterEdits(of: "terrible", seed: 2, example: 3, position: 2))
        #expect(a.count >= 3 && a.allSatisfy { $0 != "terrible" })
        #expect(a.contains { $0.count == 7 } && a.contains { $0.count == 9 })  // a deletion and an insertion
        #expect(TextAttack.characterEdits(of: "a", seed: 0, example: 0, position: 0).allSatisfy { $0 != "a" })
    }

    @Test("DeepWordBug-style: edits the keyword first and flips the prediction; wrong clean predictions are not attacked")
    func deepWordBugFlipsKeyword() throws {
        let attack = TextAttack(try TextAttackConfiguration(kind: .deepWordBug), neighbours: nil)
        let r = attack.attack(text: "A good film, with actors and a plot.", label: 1, index: 0, victim: KeywordVictim())
        #expect(r.attacked && r.succeeded && r.wordsChanged == 1)
        #expect(!TextWords(r.adversarialText).words.contains("good"))
        // clean + one deletion per word (8) + the edits of "good" (position 1), all tried in one batch
        #expect(r.queries == 1 + 8 + TextAttack.characterEdits(of: "good", seed: 0, example: 0, position: 1).count)
        let wrong = attack.attack(text: "A dull film.", label: 1, index: 1, victim: KeywordVictim())
        #expect(!wrong.attacked && !wrong.succeeded && wrong.queries == 1)
        // A query budget below the deletion pass stops the attack early, unchanged.
        let poor = TextAttack(try TextAttackConfiguration(kind: .deepWordBug, queryBudget: 3), neighbours: nil)
            .attack(text: "A good film, with actors and a plot.", label: 1, index: 0, victim: KeywordVictim())
        #expect(poor.queries <= 3 && !poor.succeeded)
    }

    @Test("word budget: two keywords need two changes; a 1-word budget fails, a larger one succeeds")
    func wordBudget() throws {
        let text = "good and great acting in a long film with many scenes"  // 11 words
        let tight = TextAttack(try TextAttackConfiguration(kind: .deepWordBug, maxWordFraction: 0.05), neighbours: nil)
            .attack(text: text, label: 1, index: 0, victim: KeywordVictim())
        #expect(tight.attacked && !tight.succeeded && tight.wordsChanged == 1)
        let loose = TextAttack(try TextAttackConfiguration(kind: .deepWordBug, maxWordFraction: 0.3), neighbours: nil)
            .attack(text: text, label: 1, index: 0, victim: KeywordVictim())
        #expect(loose.succeeded && loose.wordsChanged == 2)
        let s = TextAttackSummary([tight, loose])
        #expect(s.examples == 2 && s.cleanCorrect == 2 && s.robustCorrect == 1 && s.succeeded == 1 && s.successRate == 0.5)
        #expect(abs(s.meanChangedFraction - 2.0 / 11.0) < 1e-12)
    }

    @Test("embedding neighbours: cosine order, floor, capitalisation, no stop words substituted; TextFooler flips")
    func textFooler() throws {
        // Vocabulary with 2-d embeddings: "good" ≈ "fine" (cos 0.99) ≈ "nice"; "bad" opposite; pieces and specials ignored.
        let tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "good", "fine", "nice", "bad", "the", "film", "##s", "a"]
        let tok = try WordPieceTokenizer(tokens: tokens)
        var e = [Float](repeating: 0, count: tokens.count * 2)
        func set(_ t: String, _ x: Float, _ y: Float) { let i = tokens.firstIndex(of: t)!; e[2 * i] = x; e[2 * i + 1] = y }
        set("good", 1, 0); set("fine", 0.99, 0.14); set("nice", 0.8, 0.6); set("bad", -1, 0.05)
        set("the", 0, 1); set("film", 0.1, -1); set("##s", 1, 0.01); set("a", 0.3, 0.3)
        let n = EmbeddingNeighbours(tokenizer: tok, embeddings: Tensor(shape: [tokens.count, 2], scalars: e))
        #expect(!n.candidates.contains("##s") && !n.candidates.contains("[CLS]") && !n.candidates.contains("a"))
        let nb = n.neighbours(of: "Good", count: 5, minimumSimilarity: 0.5)
        #expect(nb.map(\.word) == ["Fine", "Nice"])
        #expect(nb[0].similarity > nb[1].similarity)
        #expect(n.neighbours(of: "unknownword", count: 5, minimumSimilarity: 0).isEmpty)

        let attack = TextAttack(try TextAttackConfiguration(kind: .textFooler, minimumSimilarity: 0.5), neighbours: n)
        let r = attack.attack(text: "the good film", label: 1, index: 0, victim: KeywordVictim())
        #expect(r.succeeded && r.adversarialText == "the fine film")  // the most similar flipping substitute
        // Stop words are never substituted: a text whose only keyword-free words are stop words has no candidates.
        #expect(attack.candidateChanges(of: "the", position: 0, example: 0).isEmpty)
    }

    @Test("bad attack settings are refused")
    func badSettings() {
        #expect(throws: AttackError.self) { try TextAttackConfiguration(kind: .textFooler, maxWordFraction: 0) }
        #expect(throws: AttackError.self) { try TextAttackConfiguration(kind: .textFooler, queryBudget: 0) }
        #expect(throws: AttackError.self) { try TextAttackConfiguration(kind: .textFooler, neighbourCount: 0) }
        #expect(throws: AttackError.self) { try TextAttackConfiguration(kind: .textFooler, minimumSimilarity: 1) }
    }
}
