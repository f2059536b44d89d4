/// One substitution kept by a word-substitution recipe.
public struct WordSubstitution: Sendable, Equatable, Codable {
    /// Word position in the text (`TextWords`).
    public var position: Int
    public var original: String
    public var replacement: String
    /// The part of speech assigned to the original word; the replacement is a synonym in that part of speech.
    public var partOfSpeech: PartOfSpeech
    /// The original's inflection, given to the replacement.
    public var inflection: Inflection
    /// The replacement's base form (a lemma of `partOfSpeech`).
    public var lemma: String
    /// TextFooler: the sentence similarity of the window around the word when the substitution was accepted.
    public var windowSimilarity: Float?

    public init(
        position: Int, original: String, replacement: String, partOfSpeech: PartOfSpeech, inflection: Inflection,
        lemma: String, windowSimilarity: Float? = nil
    ) {
        self.position = position; self.original = original; self.replacement = replacement
        self.partOfSpeech = partOfSpeech; self.inflection = inflection; self.lemma = lemma
        self.windowSimilarity = windowSimilarity
    }
}

/// A substitute for one word: the text form (inflected, capitalised like the original) and its lemma.
public struct SubstituteCandidate: Sendable, Equatable {
    public var word: String
    public var lemma: String
}

/// WordNet synonyms of a word in context, keeping its part of speech and inflection.
///
/// **Part of speech (a lightweight assignment, no tagger).** A word gets substitutes only if it is made of letters
/// (inner hyphens allowed) and is not a stop word (`StopWords.english`). Its readings are all (part of speech,
/// base form, inflection) triples WordNet's morphology gives (`WordNet.analyses`). One context rule: after a
/// determiner or possessive (`a`, `the`, `this`, `my`, …) verb readings are dropped; after `to`, a modal or a form
/// of `do`, only uninflected verb readings are kept (each rule only when it leaves a reading). Of the rest the
/// reading whose base has the most tagged senses in the index wins (WordNet's frequency signal); ties: the
/// uninflected reading, then noun, verb, adjective, adverb. Examples: "films" → noun plural of "film"; "went" →
/// past of "go"; "the run" → noun.
///
/// **Substitutes.** The lemmas of the base's synsets in that part of speech (`WordNet.synonyms(ofLemma:)`: single
/// words only, no proper names), each inflected like the original (`WordNet.inflect`): plural nouns → plural
/// substitutes, verb -s / -ing / past → the same form, by exception lists then regular rules; a substitute whose
/// form WordNet cannot vouch for is left out. Not handled: adjective and adverb comparatives/superlatives other
/// than the exception-list ones, past tense vs participle of irregular verbs with two forms (such substitutes
/// are left out), possessives and contractions (no substitutes), agreement of the neighbouring words (a/an).
/// The substitute keeps the original's capitalisation pattern (lower, Title, UPPER).
public struct WordNetSubstitutes: Sendable {
    public let wordNet: WordNet

    public init(wordNet: WordNet) { self.wordNet = wordNet }

    static let determiners: Set<String> = [
        "a", "an", "the", "this", "that", "these", "those", "my", "your", "his", "her", "its", "our", "their", "every",
        "each", "some", "any", "no", "another", "such",
    ]
    static let verbContext: Set<String> = [
        "to", "will", "would", "can", "could", "should", "may", "might", "must", "shall", "do", "does", "did", "don't",
        "doesn't", "didn't", "won't", "can't", "cannot", "wouldn't", "couldn't", "shouldn't",
    ]

    /// Whether a word can get substitutes at all (letters and inner hyphens, not a stop word).
    public static func isSubstitutable(_ word: String) -> Bool {
        guard let f = word.first, let l = word.last, f.isLetter, l.isLetter,
            word.allSatisfy({ $0.isLetter || $0 == "-" })
        else { return false }
        return !StopWords.english.contains(word.lowercased())
    }

    /// The reading of `words[i]` in its context (rule above), or nil if it gets no substitutes.
    public func analysis(of words: [String], at i: Int) -> WordAnalysis? {
        let word = words[i]
        guard Self.isSubstitutable(word) else { return nil }
        var readings = PartOfSpeech.allCases.flatMap { wordNet.analyses(of: word, $0) }
        guard !readings.isEmpty else { return nil }
        if i > 0 {
            let previous = words[i - 1].lowercased()
            if Self.determiners.contains(previous) {
                let kept = readings.filter { $0.partOfSpeech != .verb }
                if !kept.isEmpty { readings = kept }
            } else if Self.verbContext.contains(previous) {
                let kept = readings.filter { $0.partOfSpeech == .verb && $0.inflection == .none }
                if !kept.isEmpty { readings = kept }
            }
        }
        func count(_ a: WordAnalysis) -> Int { wordNet.entry(a.base, a.partOfSpeech)?.taggedSenseCount ?? 0 }
        return readings.enumerated().min { x, y in
            let (a, b) = (x.element, y.element)
            if count(a) != count(b) { return count(a) > count(b) }
            if (a.inflection == .none) != (b.inflection == .none) { return a.inflection == .none }
            if a.partOfSpeech != b.partOfSpeech { return a.partOfSpeech < b.partOfSpeech }
            return x.offset < y.offset
        }!.element
    }

    /// Up to `limit` substitutes of `words[i]` (synonyms in WordNet's order), each a different text form from the
    /// original, with the reading they were made for.
    public func candidates(words: [String], at i: Int, limit: Int) -> (reading: WordAnalysis, substitutes: [SubstituteCandidate])? {
        guard limit > 0, let reading = analysis(of: words, at: i) else { return nil }
        let original = words[i]
        var out: [SubstituteCandidate] = [], seen: Set<String> = [original.lowercased()]
        for lemma in wordNet.synonyms(ofLemma: reading.base, reading.partOfSpeech) {
            guard out.count < limit else { break }
            guard let form = wordNet.inflect(lemma, reading.partOfSpeech, as: reading.inflection),
                seen.insert(form).inserted
            else { continue }
            out.append(SubstituteCandidate(word: Self.capitalised(form, like: original), lemma: lemma))
        }
        return (reading, out)
    }

    /// `word` in the capitalisation pattern of `model`: UPPER (two or more letters, all upper case), Title, or lower.
    public static func capitalised(_ word: String, like model: String) -> String {
        let letters = model.filter(\.isLetter)
        if letters.count > 1 && letters.allSatisfy(\.isUppercase) { return word.uppercased() }
        if model.first?.isUppercase ?? false { return word.prefix(1).uppercased() + word.dropFirst() }
        return word
    }
}
