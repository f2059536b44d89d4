import Foundation

/// The black-box text attack recipes, named as their papers name them.
///
/// - **TextFooler** (Jin et al., AAAI 2020, "Is BERT Really Robust?"): words ranked by deletion importance (the drop
///   of the true class's probability when the word is deleted, plus the rise of the new class's when the
///   prediction changes); stop words skipped; for each word, most important first, up to `candidateCount`
///   synonym candidates of the same part of speech and inflection; candidates whose sentence similarity to the
///   original (`SentenceSimilarity`: MiniLM cosine over a window of `similarityWindow` words) is below
///   `similarityThreshold` are dropped before the model sees them; among the survivors a candidate that changes
///   the prediction ends the attack (the most similar such one), otherwise the one lowering the true class's
///   probability most is kept if it lowers it at all; at most `maxPerturbedFraction` of the visible words change.
///   *Substitute source:* the paper takes the 50 nearest neighbours in counter-fitted word embeddings (cosine ≥
///   0.5) and checks the part of speech with a tagger; here the synonyms are WordNet 3.0's (`WordNetSubstitutes`),
///   which have the part of speech by construction, and the sentence encoder is MiniLM instead of the Universal
///   Sentence Encoder (so the threshold's scale is MiniLM's).
/// - **PWWS** (Ren et al., ACL 2019, "Generating Natural Language Adversarial Examples through Probability
///   Weighted Word Saliency"): for each visible word, its saliency S = P(y|x) − P(y|x with the word replaced by the
///   unknown token) and its best WordNet synonym w* (the largest drop ΔP* of P(y|·) among the word's substitutes,
///   each tried alone on the clean text); words scored by softmax(S)ᵢ · ΔP*ᵢ and, highest first, replaced by their
///   w* cumulatively until the prediction changes. Words whose best substitute does not lower P(y) on its own
///   (ΔP* ≤ 0) are not used. Stop words skipped; the same `maxPerturbedFraction` cap as TextFooler. The paper's
///   named-entity substitutions are not implemented.
/// - **DeepWordBug** (Gao et al. 2018): the existing character-edit attack (`TextAttack`, kind `.deepWordBug`).
///
/// Query accounting is the same for all: one query per text shown to the victim (the clean text included); an
/// attack stops when `queryBudget` is spent. Sentence-encoder calls are not victim queries.
public enum AttackRecipe: String, Sendable, CaseIterable, Codable {
    case textFooler = "textfooler"
    case pwws = "pwws"
    case deepWordBug = "deepwordbug"

    /// The recipe of a command-line name (`textfooler`, `pwws`, `deepwordbug`), else `AttackError.unknownRecipe`.
    public init(named name: String) throws {
        guard let r = AttackRecipe(rawValue: name.lowercased()) else {
            throw AttackError.unknownRecipe(name: name, known: Self.allCases.map(\.rawValue))
        }
        self = r
    }
}

/// Settings of a recipe attack.
public struct RecipeConfiguration: Sendable, Equatable {
    public var recipe: AttackRecipe
    /// At most this fraction of the visible words is changed (at least one word), in (0, 1].
    public var maxPerturbedFraction: Double
    /// Victim queries per example, the clean query and the ranking included.
    public var queryBudget: Int
    /// TextFooler and PWWS: at most this many substitutes per word (TextFooler's N = 50).
    public var candidateCount: Int
    /// TextFooler: the sentence-similarity threshold in [0, 1] (0.7, the TextFooler authors' setting for their
    /// encoder) and window in words (15, theirs).
    public var similarityThreshold: Double
    public var similarityWindow: Int
    /// DeepWordBug: seed of the character edits.
    public var seed: UInt64

    public init(
        recipe: AttackRecipe, maxPerturbedFraction: Double = 0.25, queryBudget: Int = 2000, candidateCount: Int = 50,
        similarityThreshold: Double = 0.7, similarityWindow: Int = 15, seed: UInt64 = 0
    ) throws {
        guard maxPerturbedFraction > 0, maxPerturbedFraction <= 1 else {
            throw AttackError.invalidOption(name: "max-word-fraction", value: "\(maxPerturbedFraction)", reason: "must be in (0, 1]")
        }
        guard queryBudget >= 1 else { throw AttackError.invalidOption(name: "query-budget", value: "\(queryBudget)", reason: "must be ≥ 1") }
        guard candidateCount >= 1 else {
            throw AttackError.invalidOption(name: "candidates", value: "\(candidateCount)", reason: "must be ≥ 1")
        }
        guard similarityThreshold >= 0, similarityThreshold <= 1 else {
            throw AttackError.similarityThresholdOutOfRange(value: similarityThreshold)
        }
        guard similarityWindow >= 1 else {
            throw AttackError.invalidOption(name: "similarity-window", value: "\(similarityWindow)", reason: "must be ≥ 1 word")
        }
        self.recipe = recipe; self.maxPerturbedFraction = maxPerturbedFraction; self.queryBudget = queryBudget
        self.candidateCount = candidateCount; self.similarityThreshold = similarityThreshold
        self.similarityWindow = similarityWindow; self.seed = seed
    }

    /// The largest number of words changed in a text with `visible` visible words.
    public func maxChanged(visible: Int) -> Int { Swift.max(1, Int((maxPerturbedFraction * Double(visible)).rounded(.down))) }
}

/// A recipe ready to run: its configuration and what it needs (WordNet substitutes for TextFooler and PWWS, a
/// sentence encoder for TextFooler; with an encoder, every recipe records each attacked example's similarity).
public struct RecipeAttack {
    public let configuration: RecipeConfiguration
    public let substitutes: WordNetSubstitutes?
    public let similarity: SentenceSimilarity?

    public init(_ configuration: RecipeConfiguration, substitutes: WordNetSubstitutes?, encoder: (any SentenceEncoder)?) throws {
        let name = configuration.recipe.rawValue
        if configuration.recipe != .deepWordBug && substitutes == nil {
            throw AttackError.recipeNeeds(recipe: name, what: "WordNet synonyms (a WordNetSubstitutes)")
        }
        if configuration.recipe == .textFooler && encoder == nil {
            throw AttackError.recipeNeeds(recipe: name, what: "a sentence encoder for its similarity constraint")
        }
        self.configuration = configuration
        self.substitutes = substitutes
        self.similarity = try encoder.map {
            try SentenceSimilarity(encoder: $0, threshold: configuration.similarityThreshold, windowSize: configuration.similarityWindow)
        }
    }

    /// Attack one example. Throws `AttackError.emptyText` for a text without words or one the victim cannot
    /// tokenise, `AttackError.sentenceEncoder` if the encoder fails.
    public func attack(text: String, label: Int, index: Int, victim: some TextVictim) throws -> TextAttackResult {
        let words = TextWords(text)
        guard words.count > 0 else { throw AttackError.emptyText(index: index) }
        var result: TextAttackResult
        switch configuration.recipe {
        case .deepWordBug:
            let config = try TextAttackConfiguration(
                kind: .deepWordBug, maxWordFraction: configuration.maxPerturbedFraction,
                queryBudget: configuration.queryBudget, seed: configuration.seed)
            result = TextAttack(config, neighbours: nil).attack(text: text, label: label, index: index, victim: victim)
            guard result.cleanPrediction >= 0 else { throw AttackError.emptyText(index: index) }
        case .textFooler: result = try textFooler(words, text: text, label: label, index: index, victim: victim)
        case .pwws: result = try pwws(words, text: text, label: label, index: index, victim: victim)
        }
        if result.attacked, let similarity {
            result.similarity = result.adversarialText == text ? 1 : try similarity.similarity(text, result.adversarialText)
        }
        return result
    }

    /// The clean query, and the result as it stands if the attack goes no further.
    func start(
        _ words: TextWords, text: String, label: Int, index: Int,
        victim: some TextVictim
    ) throws -> (result: TextAttackResult, p0: [Float], visible: Int) {
        let visible = victim.visibleWordCount(words)
        guard let p0 = victim.probabilities([text])[0] else { throw AttackError.emptyText(index: index) }
        let clean = Self.argmax(p0)
        let r = TextAttackResult(
            index: index, label: label, cleanPrediction: clean, adversarialPrediction: clean, queries: 1,
            wordsChanged: 0, visibleWords: visible, adversarialText: text, substitutions: [])
        return (r, p0, visible)
    }

    /// TextFooler (the recipe's steps are in the type's documentation).
    func textFooler(_ words: TextWords, text: String, label: Int, index: Int, victim: some TextVictim) throws -> TextAttackResult {
        var (result, p0, visible) = try start(words, text: text, label: label, index: index, victim: victim)
        guard result.attacked, visible > 0, let substitutes, let similarity else { return result }
        let budget = configuration.queryBudget
        var queries = result.queries

        // 1. Deletion importance of every visible word (one query each).
        let ranked = Array(0..<Swift.min(visible, Swift.max(0, budget - queries)))
        let deleted = victim.probabilities(ranked.map { words.render(replacing: [$0: ""]) })
        queries += ranked.count
        let importance: [(Int, Float)] = zip(ranked, deleted).map { i, p in
            guard let p else { return (i, p0[label]) }  // deleting the only word: all of the true class's evidence
            let other = Self.argmax(p)
            return (i, other == label ? p0[label] - p[label] : (p0[label] - p[label]) + (p[other] - p0[other]))
        }
        let order = importance.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.map(\.0)

        // 2. Substitutions, most important word first.
        let maxChanged = configuration.maxChanged(visible: visible)
        var replacements: [Int: String] = [:], kept: [WordSubstitution] = []
        var current = p0[label]
        for i in order {
            guard replacements.count < maxChanged, queries < budget else { break }
            guard let (reading, candidates) = substitutes.candidates(words: words.words, at: i, limit: configuration.candidateCount),
                !candidates.isEmpty
            else { continue }
            let trials = candidates.map { c -> [Int: String] in
                var r = replacements; r[i] = c.word; return r
            }
            let sims = try similarity.windowSimilarities(words, position: i, replacements: trials)
            let passing = Array(candidates.indices.filter { Double(sims[$0]) >= similarity.threshold }.prefix(budget - queries))
            guard !passing.isEmpty else { continue }
            let probs = victim.probabilities(passing.map { words.render(replacing: trials[$0]) })
            queries += passing.count
            var bestFlip: Int? = nil, bestDrop: Int? = nil
            for (k, p) in probs.enumerated() {
                guard let p else { continue }
                if Self.argmax(p) != label, bestFlip.map({ sims[passing[k]] > sims[passing[$0]] }) ?? true { bestFlip = k }
                if bestDrop.map({ p[label] < probs[$0]![label] }) ?? true { bestDrop = k }
            }
            func keep(_ k: Int) {
                let c = candidates[passing[k]]
                replacements[i] = c.word
                kept.append(
                    WordSubstitution(
                        position: i, original: words.words[i], replacement: c.word,
                        partOfSpeech: reading.partOfSpeech, inflection: reading.inflection, lemma: c.lemma,
                        windowSimilarity: sims[passing[k]]))
            }
            if let k = bestFlip {
                keep(k)
                result.adversarialPrediction = Self.argmax(probs[k]!)
                break
            }
            if let k = bestDrop, probs[k]![label] < current {
                keep(k)
                current = probs[k]![label]
            }
        }
        result.queries = queries
        result.wordsChanged = replacements.count
        result.adversarialText = words.render(replacing: replacements)
        result.substitutions = kept
        return result
    }

    /// PWWS (the recipe's steps are in the type's documentation).
    func pwws(_ words: TextWords, text: String, label: Int, index: Int, victim: some TextVictim) throws -> TextAttackResult {
        var (result, p0, visible) = try start(words, text: text, label: label, index: index, victim: victim)
        guard result.attacked, visible > 0, let substitutes else { return result }
        let budget = configuration.queryBudget
        var queries = result.queries

        // 1. Word saliency: the word replaced by the unknown token (one query per visible word).
        let ranked = Array(0..<Swift.min(visible, Swift.max(0, budget - queries)))
        let unknown = victim.probabilities(ranked.map { words.render(replacing: [$0: victim.unknownWord]) })
        queries += ranked.count
        let saliency = unknown.map { p in Double(p0[label] - (p?[label] ?? 0)) }
        let top = saliency.max() ?? 0
        let weights = saliency.map { exp($0 - top) }
        let total = weights.reduce(0, +)

        // 2. Best substitute of each word on the clean text (one query per substitute).
        var best: [(position: Int, score: Double, word: String, lemma: String, reading: WordAnalysis)] = []
        for i in ranked {
            guard queries < budget else { break }
            guard let (reading, candidates) = substitutes.candidates(words: words.words, at: i, limit: configuration.candidateCount),
                !candidates.isEmpty
            else { continue }
            let allowed = Array(candidates.prefix(budget - queries))
            let probs = victim.probabilities(allowed.map { words.render(replacing: [i: $0.word]) })
            queries += allowed.count
            var k = -1, drop = -Double.infinity
            for (j, p) in probs.enumerated() {
                guard let p else { continue }
                let d = Double(p0[label] - p[label])
                if d > drop { drop = d; k = j }
            }
            guard k >= 0, drop > 0 else { continue }
            best.append((i, weights[i] / total * drop, allowed[k].word, allowed[k].lemma, reading))
        }
        best.sort { $0.score != $1.score ? $0.score > $1.score : $0.position < $1.position }

        // 3. Replace in that order until the prediction changes (one query per replacement).
        let maxChanged = configuration.maxChanged(visible: visible)
        var replacements: [Int: String] = [:], kept: [WordSubstitution] = []
        for b in best {
            guard replacements.count < maxChanged, queries < budget else { break }
            replacements[b.position] = b.word
            kept.append(
                WordSubstitution(
                    position: b.position, original: words.words[b.position], replacement: b.word,
                    partOfSpeech: b.reading.partOfSpeech, inflection: b.reading.inflection, lemma: b.lemma))
            let p = victim.probabilities([words.render(replacing: replacements)])[0]
            queries += 1
            if let p {
                result.adversarialPrediction = Self.argmax(p)
                if result.adversarialPrediction != label { break }
            }
        }
        result.queries = queries
        result.wordsChanged = replacements.count
        result.adversarialText = words.render(replacing: replacements)
        result.substitutions = kept
        return result
    }

    static func argmax(_ p: [Float]) -> Int {
        var m = 0
        for k in 1..<p.count where p[k] > p[m] { m = k }
        return m
    }
}
