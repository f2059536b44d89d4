import Foundation
import TensorCore
import Transformers

/// A text classifier seen by a black-box attack: class probabilities for texts, one query per text.
public protocol TextVictim {
    var classCount: Int { get }
    /// Softmax probabilities per text; nil for a text that tokenises to nothing.
    func probabilities(_ texts: [String]) -> [[Float]?]
    /// How many of `words` (from the first) the model sees at its maximum length (later ones are truncated away).
    func visibleWordCount(_ words: TextWords) -> Int
    /// The text PWWS puts in place of a word to measure its saliency: a word the model reads as its unknown
    /// token. Default "[UNK]" (the project's WordPiece tokenizer matches special tokens verbatim in the text).
    var unknownWord: String { get }
}

extension TextVictim {
    public var unknownWord: String { "[UNK]" }
}

/// A `TextClassifier` (with whatever attention rule is installed) as a victim, at its maximum length.
public struct ClassifierVictim: TextVictim {
    public let model: TextClassifier
    public let maxLength: Int
    public let batchSize: Int

    public init(model: TextClassifier, maxLength: Int, batchSize: Int = 32) {
        self.model = model; self.maxLength = maxLength; self.batchSize = batchSize
    }

    public var classCount: Int { model.classCount }

    public func probabilities(_ texts: [String]) -> [[Float]?] {
        var encoded: [(Int, EncodedText)] = []
        for (i, t) in texts.enumerated() {
            if let e = try? model.encode([t], maxLength: maxLength).first { encoded.append((i, e)) }
        }
        var out = [[Float]?](repeating: nil, count: texts.count)
        var start = 0
        while start < encoded.count {
            let chunk = Array(encoded[start..<Swift.min(start + batchSize, encoded.count)])
            let logits = model.logits(model.batch(chunk.map(\.1)))
            let k = logits.shape[1]
            logits.withUnsafeBufferPointer { l in
                for (row, (i, _)) in chunk.enumerated() {
                    let z = Array(l[(row * k)..<((row + 1) * k)])
                    let m = z.max()!
                    let e = z.map { expf($0 - m) }
                    let s = e.reduce(0, +)
                    out[i] = e.map { $0 / s }
                }
            }
            start += chunk.count
        }
        return out
    }

    public func visibleWordCount(_ words: TextWords) -> Int {
        var tokens = 2  // [CLS], [SEP]
        for (i, w) in words.words.enumerated() {
            tokens += Swift.max(1, model.tokenizer.pieces(w).count)
            if tokens > maxLength { return i }
        }
        return words.count
    }
}

/// Which black-box text attack.
public enum TextAttackKind: String, Sendable, CaseIterable, Codable {
    /// Character edits (swap, substitute, delete, insert) in the most important words (DeepWordBug style).
    case deepWordBug = "deepwordbug"
    /// Word substitutions by nearest neighbours in the model's input-embedding space (TextFooler style). The
    /// paper's recipe, with WordNet synonyms and the sentence-similarity constraint, is `RecipeAttack` with
    /// `AttackRecipe.textFooler`.
    case textFooler = "textfooler"
}

/// Settings of a text attack.
public struct TextAttackConfiguration: Sendable, Equatable {
    public var kind: TextAttackKind
    /// At most this fraction of the visible words is changed (at least one word).
    public var maxWordFraction: Double
    /// Model queries per example (the deletion ranking included); the attack stops when it is spent.
    public var queryBudget: Int
    /// TextFooler: candidate substitutes per word and their cosine floor.
    public var neighbourCount: Int
    public var minimumSimilarity: Float
    public var seed: UInt64

    public init(
        kind: TextAttackKind, maxWordFraction: Double = 0.25, queryBudget: Int = 2000, neighbourCount: Int = 30,
        minimumSimilarity: Float = 0.5, seed: UInt64 = 0
    ) throws {
        guard maxWordFraction > 0, maxWordFraction <= 1 else {
            throw AttackError.invalidOption(name: "max-word-fraction", value: "\(maxWordFraction)", reason: "must be in (0, 1]")
        }
        guard queryBudget >= 1 else { throw AttackError.invalidOption(name: "query-budget", value: "\(queryBudget)", reason: "must be ≥ 1") }
        guard neighbourCount >= 1 else { throw AttackError.invalidOption(name: "neighbours", value: "\(neighbourCount)", reason: "must be ≥ 1") }
        guard minimumSimilarity > -1, minimumSimilarity < 1 else {
            throw AttackError.invalidOption(name: "min-similarity", value: "\(minimumSimilarity)", reason: "must be in (−1, 1)")
        }
        self.kind = kind; self.maxWordFraction = maxWordFraction; self.queryBudget = queryBudget
        self.neighbourCount = neighbourCount; self.minimumSimilarity = minimumSimilarity; self.seed = seed
    }
}

/// The outcome for one example.
public struct TextAttackResult: Sendable, Equatable, Codable {
    public var index: Int
    public var label: Int
    /// Prediction on the clean text (−1: the text tokenises to nothing).
    public var cleanPrediction: Int
    /// Prediction on the final (possibly unchanged) text.
    public var adversarialPrediction: Int
    public var queries: Int
    public var wordsChanged: Int
    public var visibleWords: Int
    public var adversarialText: String
    /// Word-substitution recipes (TextFooler, PWWS): the substitutions kept, in the order they were made.
    public var substitutions: [WordSubstitution]? = nil
    /// Cosine of the sentence embeddings of the whole clean and adversarial texts (when a sentence encoder was given).
    public var similarity: Float? = nil
    /// Fraction of the visible words changed.
    public var perturbedFraction: Double { Double(wordsChanged) / Double(Swift.max(1, visibleWords)) }
    /// Attacked at all: the clean prediction was right (wrong ones count as failures of the model already).
    public var attacked: Bool { cleanPrediction == label }
    public var succeeded: Bool { attacked && adversarialPrediction != label }
}

/// Errors of attack settings, resources and inputs: one line each.
public enum AttackError: Error, CustomStringConvertible, Sendable, Equatable {
    case invalidOption(name: String, value: String, reason: String)
    /// A file of the WordNet database is absent (the path names it).
    case wordNetMissing(path: String)
    /// A WordNet file is unreadable or a line of it is not in the database format (line 0: the whole file).
    case wordNetMalformed(path: String, line: Int, reason: String)
    /// An attack recipe name that does not exist.
    case unknownRecipe(name: String, known: [String])
    /// A sentence-similarity threshold outside [0, 1].
    case similarityThresholdOutOfRange(value: Double)
    /// A recipe was set up without something it needs (e.g. TextFooler without a sentence encoder).
    case recipeNeeds(recipe: String, what: String)
    /// A text to attack has no words, or the victim cannot tokenise it (`index` in the list attacked).
    case emptyText(index: Int)
    /// The sentence encoder of the similarity constraint failed.
    case sentenceEncoder(reason: String)

    public var description: String {
        switch self {
        case let .invalidOption(name, value, reason): return "invalid --\(name) \(value): \(reason)"
        case let .wordNetMissing(path):
            return "WordNet database file \(path) is missing (install it with `apt-get install wordnet-base` or Scripts/setup)"
        case let .wordNetMalformed(path, line, reason):
            return line > 0 ? "\(path):\(line): not WordNet 3.0 database format: \(reason)" : "\(path): \(reason)"
        case let .unknownRecipe(name, known):
            return "unknown attack recipe '\(name)' (known: \(known.joined(separator: ", ")))"
        case let .similarityThresholdOutOfRange(value):
            return "sentence-similarity threshold \(value) is outside [0, 1]"
        case let .recipeNeeds(recipe, what): return "attack recipe \(recipe) needs \(what)"
        case let .emptyText(index): return "text \(index) has no words to attack (it tokenises to nothing)"
        case let .sentenceEncoder(reason): return "sentence encoder failed: \(reason)"
        }
    }
}

/// The black-box text attacks: importance of every visible word by deletion (the drop in the true class's
/// probability when the word is removed), then, most important first, the best candidate change of each word
/// (character edits or embedding neighbours, stop words untouched for substitutions) is kept while it lowers
/// the true class's probability, until the prediction flips, the word budget is used or the queries run out.
public struct TextAttack {
    public let configuration: TextAttackConfiguration
    public let neighbours: EmbeddingNeighbours?

    public init(_ configuration: TextAttackConfiguration, neighbours: EmbeddingNeighbours?) {
        precondition(configuration.kind != .textFooler || neighbours != nil, "the word-substitution attack needs neighbours")
        self.configuration = configuration; self.neighbours = neighbours
    }

    public func attack(text: String, label: Int, index: Int, victim: some TextVictim) -> TextAttackResult {
        let words = TextWords(text)
        let visible = victim.visibleWordCount(words)
        var queries = 1
        guard let p0 = victim.probabilities([text])[0] else {
            return TextAttackResult(
                index: index, label: label, cleanPrediction: -1, adversarialPrediction: -1, queries: queries,
                wordsChanged: 0, visibleWords: visible, adversarialText: text)
        }
        let clean = argmax(p0)
        var result = TextAttackResult(
            index: index, label: label, cleanPrediction: clean, adversarialPrediction: clean,
            queries: queries, wordsChanged: 0, visibleWords: visible, adversarialText: text)
        guard clean == label, visible > 0 else { return result }

        // 1. Importance by deletion (one query per visible word).
        let budget = configuration.queryBudget
        let ranked = Array(0..<Swift.min(visible, Swift.max(0, budget - queries)))
        let deleted = victim.probabilities(ranked.map { words.render(replacing: [$0: ""]) })
        queries += ranked.count
        let importance = zip(ranked, deleted).map { (i, p) in (i, p0[label] - (p?[label] ?? 0)) }
        let order = importance.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.map(\.0)

        // 2. Greedy changes, most important word first.
        let maxChanged = Swift.max(1, Int((configuration.maxWordFraction * Double(visible)).rounded(.down)))
        var replacements: [Int: String] = [:]
        var current = p0[label]
        for i in order {
            guard replacements.count < maxChanged, queries < budget else { break }
            let word = words.words[i]
            let candidates = candidateChanges(of: word, position: i, example: index)
            guard !candidates.isEmpty else { continue }
            let allowed = Array(candidates.prefix(budget - queries))
            let texts = allowed.map { c -> String in
                var r = replacements; r[i] = c.word; return words.render(replacing: r)
            }
            let probs = victim.probabilities(texts)
            queries += allowed.count
            var bestFlip: (Int, Float)? = nil, bestDrop: (Int, Float)? = nil
            for (k, p) in probs.enumerated() {
                guard let p else { continue }
                if argmax(p) != label {
                    // Among flips: the most similar substitute (TextFooler), else the lowest true-class probability.
                    let key = configuration.kind == .textFooler ? -allowed[k].similarity : p[label]
                    if bestFlip == nil || key < bestFlip!.1 { bestFlip = (k, key) }
                }
                if bestDrop == nil || p[label] < bestDrop!.1 { bestDrop = (k, p[label]) }
            }
            if let (k, _) = bestFlip {
                replacements[i] = allowed[k].word
                result.adversarialPrediction = argmax(probs[k]!)
                break
            }
            if let (k, p) = bestDrop, p < current {
                replacements[i] = allowed[k].word
                current = p
            }
        }
        result.queries = queries
        result.wordsChanged = replacements.count
        result.adversarialText = words.render(replacing: replacements)
        return result
    }

    /// The candidate replacements of one word, with a similarity (1 for character edits).
    func candidateChanges(of word: String, position: Int, example: Int) -> [(word: String, similarity: Float)] {
        switch configuration.kind {
        case .textFooler:
            guard !StopWords.english.contains(word.lowercased()), let neighbours else { return [] }
            return neighbours.neighbours(
                of: word, count: configuration.neighbourCount,
                minimumSimilarity: configuration.minimumSimilarity)
        case .deepWordBug:
            return Self.characterEdits(of: word, seed: configuration.seed, example: example, position: position)
                .map { ($0, Float(1)) }
        }
    }

    /// DeepWordBug's four edits of a word, each at a seeded random place: swap two adjacent letters, substitute a
    /// letter, delete a letter, insert a letter. Keyed by (seed, example, word position): reproducible anywhere.
    public static func characterEdits(of word: String, seed: UInt64, example: Int, position: Int) -> [String] {
        var rng = RandomStream(seed: seed, 0x4457_4255, UInt32(truncatingIfNeeded: example), UInt32(truncatingIfNeeded: position))
        let chars = Array(word), n = chars.count
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        func letter(avoiding c: Character?) -> Character {
            var l = letters[rng.randomInt(below: 26)]
            while l == c { l = letters[rng.randomInt(below: 26)] }
            return l
        }
        var edits: [String] = []
        if n >= 2 {
            let j = rng.randomInt(below: n - 1)
            var s = chars; s.swapAt(j, j + 1)
            if s != chars { edits.append(String(s)) }
        }
        if n >= 1 {
            let j = rng.randomInt(below: n)
            var s = chars; s[j] = letter(avoiding: Character(chars[j].lowercased()))
            edits.append(String(s))
        }
        if n >= 2 {
            let j = rng.randomInt(below: n)
            var s = chars; s.remove(at: j)
            edits.append(String(s))
        }
        let j = rng.randomInt(below: n + 1)
        var s = chars; s.insert(letter(avoiding: nil), at: j)
        edits.append(String(s))
        var seen = Set<String>()
        return edits.filter { $0 != word && seen.insert($0).inserted }
    }

    func argmax(_ p: [Float]) -> Int {
        var m = 0
        for k in 1..<p.count where p[k] > p[m] { m = k }
        return m
    }
}

/// The table of an attack run: clean accuracy, accuracy under attack, success rate (over examples the model got
/// right), mean queries and mean fraction of visible words changed (over successful attacks).
public struct TextAttackSummary: Sendable, Equatable {
    public var examples: Int, cleanCorrect: Int, robustCorrect: Int, succeeded: Int
    public var meanQueries: Double, meanChangedFraction: Double

    public init(_ results: [TextAttackResult]) {
        examples = results.count
        cleanCorrect = results.filter(\.attacked).count
        robustCorrect = results.filter { $0.attacked && !$0.succeeded }.count
        succeeded = results.filter(\.succeeded).count
        let attacked = results.filter(\.attacked)
        meanQueries = attacked.isEmpty ? 0 : Double(attacked.map(\.queries).reduce(0, +)) / Double(attacked.count)
        let wins = results.filter(\.succeeded)
        meanChangedFraction =
            wins.isEmpty
            ? 0
            : wins.map { Double($0.wordsChanged) / Double(Swift.max(1, $0.visibleWords)) }.reduce(0, +) / Double(wins.count)
    }

    public var cleanAccuracy: Double { examples == 0 ? 0 : Double(cleanCorrect) / Double(examples) }
    public var robustAccuracy: Double { examples == 0 ? 0 : Double(robustCorrect) / Double(examples) }
    public var successRate: Double { cleanCorrect == 0 ? 0 : Double(succeeded) / Double(cleanCorrect) }
}
