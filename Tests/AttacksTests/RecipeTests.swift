// The paper recipes (TextFooler, PWWS) on the real WordNet with victims whose behaviour is known: which words they
// change, exact query counts, the constraints (part of speech, sentence similarity, perturbed fraction) on every
// accepted substitution, and the errors for bad names, thresholds and texts.
import Foundation
import NeuralNet
import TensorCore
import Testing
import Transformers

@testable import Attacks

/// Counts every text shown to the wrapped victim (the attack's own count must equal it).
final class CountingVictim<V: TextVictim>: TextVictim, @unchecked Sendable {
    let inner: V
    var texts = 0
    init(_ inner: V) { self.inner = inner }
    var classCount: Int { inner.classCount }
    func probabilities(_ texts: [String]) -> [[Float]?] { self.texts += texts.count; return inner.probabilities(texts) }
    func visibleWordCount(_ words: TextWords) -> Int { inner.visibleWordCount(words) }
}

/// A victim that cannot tokenise anything.
struct MuteVictim: TextVictim {
    var classCount: Int { 2 }
    func probabilities(_ texts: [String]) -> [[Float]?] { texts.map { _ in nil } }
    func visibleWordCount(_ words: TextWords) -> Int { words.count }
}

/// Sentence "embeddings" whose cosine is known: [1, 3·(number of penalised words)]. A text without penalised words
/// is [1, 0]; one penalised word gives cosine 1/√10 ≈ 0.32 against it.
struct PenaltyEncoder: SentenceEncoder {
    var penalised: Set<String>
    func embed(_ texts: [String]) throws -> [[Float]] {
        texts.map { t in [1, 3 * Float(TextWords(t).words.filter { penalised.contains($0.lowercased()) }.count)] }
    }
}

struct FailingEncoder: SentenceEncoder {
    struct Broken: Error {}
    func embed(_ texts: [String]) throws -> [[Float]] { throw Broken() }
}

enum MiniLMFixture {
    /// all-MiniLM-L6-v2 in `$EQUICERT_DATA/minilm`, `<package>/data/minilm` (Scripts/setup) or `/work/main/data/minilm`.
    static let directory: URL? = {
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var candidates = [package.appendingPathComponent("data/minilm").path, "/work/main/data/minilm"]
        if let d = ProcessInfo.processInfo.environment["EQUICERT_DATA"] { candidates.insert(d + "/minilm", at: 0) }
        return candidates.map { URL(fileURLWithPath: $0) }.first { dir in
            ["model.safetensors", "vocab.txt", "config.json"].allSatisfy {
                FileManager.default.fileExists(atPath: dir.appendingPathComponent($0).path)
            }
        }
    }()
    static let missing: Comment = "all-MiniLM-L6-v2 not found (run Scripts/setup or set EQUICERT_DATA)"
}

@Suite("Attack recipes (TextFooler, PWWS, DeepWordBug)", .enabled(if: WordNetFixture.available, WordNetFixture.missing))
struct RecipeTests {
    static func substitutes() throws -> WordNetSubstitutes { WordNetSubstitutes(wordNet: try WordNetFixture.wordNet()) }

    @Test("recipe names, thresholds and texts: clear typed errors")
    func badInput() throws {
        #expect(try AttackRecipe(named: "TextFooler") == .textFooler)
        #expect(try AttackRecipe(named: "pwws") == .pwws && (try AttackRecipe(named: "deepwordbug")) == .deepWordBug)
        #expect(throws: AttackError.unknownRecipe(name: "textfool", known: ["textfooler", "pwws", "deepwordbug"])) {
            try AttackRecipe(named: "textfool")
        }
        #expect(
            AttackError.unknownRecipe(name: "x", known: ["textfooler", "pwws"]).description == "unknown attack recipe 'x' (known: textfooler, pwws)")
        #expect(throws: AttackError.similarityThresholdOutOfRange(value: 1.5)) {
            try RecipeConfiguration(recipe: .textFooler, similarityThreshold: 1.5)
        }
        #expect(throws: AttackError.similarityThresholdOutOfRange(value: -0.1)) {
            try RecipeConfiguration(recipe: .textFooler, similarityThreshold: -0.1)
        }
        #expect(throws: AttackError.similarityThresholdOutOfRange(value: 2)) {
            try SentenceSimilarity(encoder: PenaltyEncoder(penalised: []), threshold: 2)
        }
        _ = try RecipeConfiguration(recipe: .textFooler, similarityThreshold: 0)
        _ = try RecipeConfiguration(recipe: .textFooler, similarityThreshold: 1)
        #expect(throws: AttackError.self) { try RecipeConfiguration(recipe: .pwws, maxPerturbedFraction: 0) }
        #expect(throws: AttackError.self) { try RecipeConfiguration(recipe: .pwws, candidateCount: 0) }
        // What each recipe needs.
        let s = try Self.substitutes()
        #expect(throws: AttackError.recipeNeeds(recipe: "textfooler", what: "a sentence encoder for its similarity constraint")) {
            try RecipeAttack(try RecipeConfiguration(recipe: .textFooler), substitutes: s, encoder: nil)
        }
        #expect(throws: AttackError.self) { try RecipeAttack(try RecipeConfiguration(recipe: .pwws), substitutes: nil, encoder: nil) }
        // Texts that tokenise to nothing.
        for recipe in AttackRecipe.allCases {
            let attack = try RecipeAttack(try RecipeConfiguration(recipe: recipe), substitutes: s, encoder: PenaltyEncoder(penalised: []))
            #expect(throws: AttackError.emptyText(index: 7)) { try attack.attack(text: " ,. ", label: 1, index: 7, victim: KeywordVictim()) }
            #expect(throws: AttackError.emptyText(index: 3)) { try attack.attack(text: "a good film", label: 1, index: 3, victim: MuteVictim()) }
        }
        // A failing encoder is reported as such.
        let broken = try RecipeAttack(try RecipeConfiguration(recipe: .textFooler), substitutes: s, encoder: FailingEncoder())
        #expect(throws: AttackError.self) { try broken.attack(text: "a good film", label: 1, index: 0, victim: KeywordVictim()) }
    }

    @Test("TextFooler: deletion order, candidates below the similarity threshold never shown to the model, exact queries")
    func textFooler() throws {
        let s = try Self.substitutes()
        let text = "a good film with fine actors"
        let words = TextWords(text)
        let (_, goods) = try #require(s.candidates(words: words.words, at: 1, limit: 50))
        #expect(Array(goods.prefix(3).map(\.word)) == ["full", "estimable", "honorable"])
        // The first two substitutes of "good" break the similarity constraint: the third is the one kept.
        let encoder = PenaltyEncoder(penalised: ["full", "estimable"])
        let attack = try RecipeAttack(
            try RecipeConfiguration(recipe: .textFooler, similarityThreshold: 0.7),
            substitutes: s, encoder: encoder)
        let victim = CountingVictim(KeywordVictim())
        let r = try attack.attack(text: text, label: 1, index: 0, victim: victim)
        #expect(r.succeeded && r.adversarialText == "a honorable film with fine actors")
        #expect(
            r.substitutions == [
                WordSubstitution(
                    position: 1, original: "good", replacement: "honorable", partOfSpeech: .adjective,
                    inflection: .none, lemma: "honorable", windowSimilarity: 1)
            ])
        // clean + 6 deletions + the substitutes of "good" that pass the threshold (all but two), in one batch
        #expect(r.queries == 1 + 6 + goods.count - 2)
        #expect(victim.texts == r.queries)
        #expect(r.similarity == 1 && r.perturbedFraction == 1.0 / 6.0)
        // Threshold 0: every candidate passes and flips; the most similar flipping one is kept.
        let loose = try RecipeAttack(try RecipeConfiguration(recipe: .textFooler, similarityThreshold: 0), substitutes: s, encoder: encoder)
        let r0 = try loose.attack(text: text, label: 1, index: 0, victim: KeywordVictim())
        #expect(r0.adversarialText == "a honorable film with fine actors" && r0.queries == 1 + 6 + goods.count)
        // Equal similarities: the first flipping candidate in WordNet's order.
        let plain = try RecipeAttack(
            try RecipeConfiguration(recipe: .textFooler, similarityThreshold: 0), substitutes: s,
            encoder: PenaltyEncoder(penalised: []))
        #expect(try plain.attack(text: text, label: 1, index: 0, victim: KeywordVictim()).adversarialText == "a full film with fine actors")
        // Every candidate below the threshold: nothing changes, and no substitution query is spent on "good".
        let strict = try RecipeAttack(
            try RecipeConfiguration(recipe: .textFooler, similarityThreshold: 0.7), substitutes: s,
            encoder: PenaltyEncoder(penalised: Set(goods.map(\.word))))
        let rs = try strict.attack(text: "a good film", label: 1, index: 0, victim: KeywordVictim())
        let filmCount = try #require(s.candidates(words: ["a", "good", "film"], at: 2, limit: 50)).substitutes.count
        #expect(!rs.succeeded && rs.adversarialText.contains("good"))
        // clean + 3 deletions + the substitutes of "film" (tried; none lowers the keyword probability, none kept)
        #expect(rs.queries == 1 + 3 + filmCount && rs.substitutions == [])
        // A wrong clean prediction is not attacked: one query.
        let wrong = try attack.attack(text: "a dull film", label: 1, index: 1, victim: KeywordVictim())
        #expect(!wrong.attacked && wrong.queries == 1 && wrong.similarity == nil)
    }

    @Test("TextFooler: the perturbed fraction cap and the query budget hold")
    func textFoolerBudgets() throws {
        let s = try Self.substitutes()
        let text = "good and great acting in a long film with many scenes"  // 11 words: two keywords
        let encoder = PenaltyEncoder(penalised: [])
        let tight = try RecipeAttack(try RecipeConfiguration(recipe: .textFooler, maxPerturbedFraction: 0.1), substitutes: s, encoder: encoder)
        let t = try tight.attack(text: text, label: 1, index: 0, victim: KeywordVictim())
        #expect(t.attacked && !t.succeeded && t.wordsChanged == 1 && t.perturbedFraction <= 0.1)
        let loose = try RecipeAttack(try RecipeConfiguration(recipe: .textFooler, maxPerturbedFraction: 0.25), substitutes: s, encoder: encoder)
        let l = try loose.attack(text: text, label: 1, index: 0, victim: KeywordVictim())
        #expect(l.succeeded && l.wordsChanged == 2 && Set(l.substitutions!.map(\.position)) == [0, 2])
        for budget in [1, 5, 13, 20] {
            let b = try RecipeAttack(try RecipeConfiguration(recipe: .textFooler, queryBudget: budget), substitutes: s, encoder: encoder)
            let v = CountingVictim(KeywordVictim())
            let r = try b.attack(text: text, label: 1, index: 0, victim: v)
            #expect(r.queries <= budget && r.queries == v.texts)
        }
    }

    @Test("PWWS: saliency × best-substitution order, cumulative replacement until the label flips, exact queries")
    func pwws() throws {
        let s = try Self.substitutes()
        let text = "good and great acting in a long film with many scenes"
        let words = TextWords(text)
        let attack = try RecipeAttack(try RecipeConfiguration(recipe: .pwws), substitutes: s, encoder: nil)
        let victim = CountingVictim(KeywordVictim())
        let r = try attack.attack(text: text, label: 1, index: 0, victim: victim)
        // Saliency of "good" and "great" is equal (one keyword of three goes); so is their best drop: "good" first.
        #expect(r.succeeded && r.wordsChanged == 2)
        #expect(r.substitutions!.map(\.position) == [0, 2] && r.substitutions!.map(\.original) == ["good", "great"])
        let candidates = words.words.indices.map { s.candidates(words: words.words, at: $0, limit: 50)?.substitutes.count ?? 0 }
        // clean + 11 saliency queries + every substitute of every word + 2 cumulative replacements
        #expect(r.queries == 1 + 11 + candidates.reduce(0, +) + 2)
        #expect(victim.texts == r.queries && r.similarity == nil)
        // Each replacement is the first substitute of its word (all drop the keyword equally; ties: candidate order).
        #expect(r.substitutions![0].replacement == s.candidates(words: words.words, at: 0, limit: 50)!.substitutes[0].word)
        // The perturbed-fraction cap stops it after one word.
        let capped = try RecipeAttack(try RecipeConfiguration(recipe: .pwws, maxPerturbedFraction: 0.1), substitutes: s, encoder: nil)
        let c = try capped.attack(text: text, label: 1, index: 0, victim: KeywordVictim())
        #expect(!c.succeeded && c.wordsChanged == 1 && c.adversarialPrediction == 1)
        for budget in [1, 12, 40] {
            let v = CountingVictim(KeywordVictim())
            let b = try RecipeAttack(try RecipeConfiguration(recipe: .pwws, queryBudget: budget), substitutes: s, encoder: nil)
                .attack(text: text, label: 1, index: 0, victim: v)
            #expect(b.queries <= budget && b.queries == v.texts)
        }
    }

    @Test("DeepWordBug through the recipe interface: the existing attack, unchanged, plus the similarity record")
    func deepWordBug() throws {
        let text = "A good film, with actors and a plot."
        let old = TextAttack(try TextAttackConfiguration(kind: .deepWordBug), neighbours: nil)
            .attack(text: text, label: 1, index: 0, victim: KeywordVictim())
        let new = try RecipeAttack(try RecipeConfiguration(recipe: .deepWordBug), substitutes: nil, encoder: PenaltyEncoder(penalised: []))
            .attack(text: text, label: 1, index: 0, victim: KeywordVictim())
        var expected = old
        expected.similarity = 1  // no penalised words: the encoder sees identical embeddings
        #expect(new == expected && new.succeeded)
    }

    @Test("a real (tiny, random) MiniLM-architecture classifier: determinism, exact queries, visible words only")
    func tinyClassifier() throws {
        let config = BertConfiguration(vocabularySize: 12, hiddenSize: 8, layerCount: 2, headCount: 2, intermediateSize: 12, maxPositions: 8)
        let tok = try WordPieceTokenizer(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "dog", "sat", "ran", "##s", "a", "."])
        let model = TextClassifier(configuration: config, tokenizer: tok, classNames: ["x", "y"], seed: 3, initializer: .normal(std: 0.5))
        let base = ClassifierVictim(model: model, maxLength: 8)
        let s = try Self.substitutes()
        let text = "the cat sat with a dog and ran after the cats"
        let visible = base.visibleWordCount(TextWords(text))
        #expect(visible == 6)  // [CLS] + 6 words + [SEP] = 8 tokens
        let label = RecipeAttack.argmax(base.probabilities([text])[0]!)
        for recipe in [AttackRecipe.textFooler, .pwws, .deepWordBug] {
            let attack = try RecipeAttack(
                try RecipeConfiguration(recipe: recipe, maxPerturbedFraction: 0.5), substitutes: s,
                encoder: PenaltyEncoder(penalised: []))
            let v = CountingVictim(base)
            let r = try attack.attack(text: text, label: label, index: 0, victim: v)
            #expect(r.attacked && r.queries == v.texts && r.queries > 1)
            #expect(r == (try attack.attack(text: text, label: label, index: 0, victim: base)))
            #expect(r.wordsChanged <= 3 && (r.substitutions ?? []).allSatisfy { $0.position < visible })
        }
    }

    @Test(
        "MiniLM sentence similarity: windows, identical texts, synonyms above unrelated texts",
        .enabled(if: MiniLMFixture.directory != nil, MiniLMFixture.missing))
    func miniLMSimilarity() throws {
        let encoder = try MiniLMSentenceEncoder(directory: #require(MiniLMFixture.directory))
        let sim = try SentenceSimilarity(encoder: encoder, threshold: 0.7, windowSize: 5)
        #expect(sim.window(around: 0, count: 12) == 0..<5 && sim.window(around: 6, count: 12) == 4..<9)
        #expect(sim.window(around: 11, count: 12) == 7..<12 && sim.window(around: 1, count: 3) == 0..<3)
        let words = TextWords("Yesterday I watched a good film about a dog, and it was moving.")
        #expect(words.render(range: 3..<6) == "a good film" && words.render(range: 7..<10, replacing: [8: "cat"]) == "a cat, and")
        let same = try sim.windowSimilarities(words, position: 4, replacements: [[:]])
        #expect(abs(same[0] - 1) < 1e-5)
        let s = try sim.windowSimilarities(words, position: 4, replacements: [[4: "fine"], [4: "horrible"], [3: "x", 4: "zebra", 5: "quantum"]])
        #expect(s[0] > s[2] && s[1] > s[2] && s[0] > 0.7)
        #expect(try sim.similarity("the film was good", "the movie was good") > sim.similarity("the film was good", "stock prices fell sharply"))
    }

    @Test(
        "TextFooler with the MiniLM encoder: every kept substitution meets the threshold, keeps the part of speech",
        .enabled(if: MiniLMFixture.directory != nil, MiniLMFixture.missing))
    func textFoolerMiniLM() throws {
        let s = try Self.substitutes()
        let encoder = try MiniLMSentenceEncoder(directory: #require(MiniLMFixture.directory))
        let threshold = 0.85
        let attack = try RecipeAttack(try RecipeConfiguration(recipe: .textFooler, similarityThreshold: threshold), substitutes: s, encoder: encoder)
        let similarity = try #require(attack.similarity)
        let texts = [
            "a good and great story, told with good actors and great films",
            "The acting is good but the plot runs out of ideas; a great cast wasted in a good setting",
        ]
        for (n, text) in texts.enumerated() {
            let r = try attack.attack(text: text, label: 1, index: n, victim: KeywordVictim())
            let words = TextWords(text)
            #expect(r.attacked && r.perturbedFraction <= 0.25)
            #expect(r.substitutions!.count == r.wordsChanged && r.wordsChanged >= 1)
            var applied: [Int: String] = [:]
            for sub in r.substitutions! {
                applied[sub.position] = sub.replacement
                #expect(Double(sub.windowSimilarity!) >= threshold)
                // Recomputed: the window with the substitutions made so far.
                let again = try similarity.windowSimilarities(words, position: sub.position, replacements: [applied])[0]
                #expect(abs(again - sub.windowSimilarity!) < 1e-4)
                let reading = try #require(s.analysis(of: words.words, at: sub.position))
                #expect(reading.partOfSpeech == sub.partOfSpeech && reading.inflection == sub.inflection)
                #expect(
                    s.wordNet.analyses(of: sub.replacement, sub.partOfSpeech)
                        .contains(WordAnalysis(partOfSpeech: sub.partOfSpeech, base: sub.lemma, inflection: sub.inflection)))
            }
            #expect(r.adversarialText == words.render(replacing: applied))
            #expect(r.similarity! > 0 && r.similarity! <= 1.0001)
        }
    }
}
