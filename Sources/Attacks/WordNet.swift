import Foundation

/// A WordNet part of speech (the four database files of each kind).
public enum PartOfSpeech: String, Sendable, CaseIterable, Codable, Comparable {
    case noun, verb, adjective, adverb

    /// The suffix of its files: `index.noun`, `data.noun`, `noun.exc`, ….
    public var fileSuffix: String {
        switch self {
        case .noun: "noun";
        case .verb: "verb";
        case .adjective: "adj";
        case .adverb: "adv"
        }
    }

    public static func < (a: PartOfSpeech, b: PartOfSpeech) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// How an inflected form differs from its base form (the lemma WordNet lists).
public enum Inflection: String, Sendable, Codable, CaseIterable {
    /// The base form itself.
    case none
    /// Noun plural ("films", "children").
    case plural
    /// Verb, third person singular present ("runs", "has").
    case thirdPersonSingular
    /// Verb, -ing form ("running", "making").
    case presentParticiple
    /// Verb, past tense or past participle ("played", "ran", "gone"; regular forms cannot tell the two apart).
    case past
    /// Adjective or adverb, comparative ("better", "happier").
    case comparative
    /// Adjective or adverb, superlative ("best", "happiest").
    case superlative
}

/// One reading of a word form: the base form (a lemma in the index of `partOfSpeech`) and the inflection that
/// turns the base into the form.
public struct WordAnalysis: Sendable, Equatable, Hashable {
    public var partOfSpeech: PartOfSpeech
    public var base: String
    public var inflection: Inflection
}

/// One line of an index file: a lemma's synsets in WordNet's sense order and how many of its senses were tagged in
/// the semantic concordance (a frequency signal).
public struct WordNetIndexEntry: Sendable, Equatable {
    public var synsetOffsets: [Int]
    public var taggedSenseCount: Int
}

/// A reader of the WordNet 3.0 database in its original text format (Debian's `wordnet-base`:
/// `/usr/share/wordnet/{index,data}.{noun,verb,adj,adv}` and `{noun,verb,adj,adv}.exc`).
///
/// - Index files are read whole (lemma → synset byte offsets in sense order, tagged-sense count).
/// - Data files are kept as bytes; a synset is parsed on demand at its byte offset (the format's address). Its
///   lemmas lose the adjective position markers `(a)`, `(p)`, `(ip)`; multiword lemmas keep their underscores
///   (`synonyms` leaves them out).
/// - Morphology is WordNet's own: an exception list lookup (irregular forms, doubled consonants), then the
///   detachment suffix rules of the part of speech, a candidate counting only if it is a lemma of the index.
///
/// Every file must be present and readable: the error names the first that is not.
public struct WordNet: Sendable {
    /// Debian's location (package `wordnet-base`).
    public static let defaultDirectory = URL(fileURLWithPath: "/usr/share/wordnet")

    public let directory: URL
    let index: [PartOfSpeech: [String: WordNetIndexEntry]]
    let data: [PartOfSpeech: [UInt8]]
    /// Inflected form → base forms (as listed in `*.exc`).
    let exceptions: [PartOfSpeech: [String: [String]]]
    /// Base form → inflected forms (the exception lists reversed, in file order).
    let inflectedForms: [PartOfSpeech: [String: [String]]]

    /// The files this reader needs, relative to the database directory.
    public static let requiredFiles: [String] = PartOfSpeech.allCases.flatMap {
        ["index.\($0.fileSuffix)", "data.\($0.fileSuffix)", "\($0.fileSuffix).exc"]
    }

    public init(directory: URL = WordNet.defaultDirectory) throws {
        self.directory = directory
        func bytes(_ name: String) throws -> [UInt8] {
            let url = directory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else { throw AttackError.wordNetMissing(path: url.path) }
            guard let d = FileManager.default.contents(atPath: url.path) else {
                throw AttackError.wordNetMalformed(path: url.path, line: 0, reason: "cannot read the file")
            }
            return [UInt8](d)
        }
        // Check presence of every file first, so the error names the first missing one whatever the order of use.
        for name in Self.requiredFiles where !FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path) {
            throw AttackError.wordNetMissing(path: directory.appendingPathComponent(name).path)
        }
        var index: [PartOfSpeech: [String: WordNetIndexEntry]] = [:]
        var data: [PartOfSpeech: [UInt8]] = [:]
        var exceptions: [PartOfSpeech: [String: [String]]] = [:]
        var inflected: [PartOfSpeech: [String: [String]]] = [:]
        for pos in PartOfSpeech.allCases {
            let indexName = "index.\(pos.fileSuffix)"
            index[pos] = try Self.parseIndex(try bytes(indexName), path: directory.appendingPathComponent(indexName).path)
            data[pos] = try bytes("data.\(pos.fileSuffix)")
            var exc: [String: [String]] = [:], rev: [String: [String]] = [:]
            let excName = "\(pos.fileSuffix).exc"
            for (n, line) in String(decoding: try bytes(excName), as: UTF8.self).split(separator: "\n").enumerated() {
                let f = line.split(separator: " ").map(String.init)
                guard f.count >= 2 else {
                    throw AttackError.wordNetMalformed(
                        path: directory.appendingPathComponent(excName).path, line: n + 1,
                        reason: "expected an inflected form and at least one base form")
                }
                exc[f[0], default: []] += f.dropFirst()
                for b in f.dropFirst() where !(rev[b]?.contains(f[0]) ?? false) { rev[b, default: []].append(f[0]) }
            }
            exceptions[pos] = exc; inflected[pos] = rev
        }
        self.index = index; self.data = data; self.exceptions = exceptions; self.inflectedForms = inflected
    }

    static func parseIndex(_ bytes: [UInt8], path: String) throws -> [String: WordNetIndexEntry] {
        var out: [String: WordNetIndexEntry] = [:]
        out.reserveCapacity(bytes.count / 40)
        var lineNumber = 0
        for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: true) {
            lineNumber += 1
            guard line.first != 0x20 else { continue }  // the licence header: lines starting with a space
            let f = line.split(separator: 0x20)
            func bad(_ reason: String) -> AttackError { .wordNetMalformed(path: path, line: lineNumber, reason: reason) }
            // lemma pos synset_cnt p_cnt [ptr_symbol × p_cnt] sense_cnt tagsense_cnt synset_offset × synset_cnt
            guard f.count >= 6, let synsets = Int(String(decoding: f[2], as: UTF8.self)),
                let pointers = Int(String(decoding: f[3], as: UTF8.self)), f.count == 4 + pointers + 2 + synsets,
                let tagged = Int(String(decoding: f[4 + pointers + 1], as: UTF8.self))
            else {
                throw bad("not an index line (lemma pos synset_cnt p_cnt … sense_cnt tagsense_cnt offsets)")
            }
            var offsets: [Int] = []
            for o in f[(4 + pointers + 2)...] {
                guard let v = Int(String(decoding: o, as: UTF8.self)) else { throw bad("synset offset is not a number") }
                offsets.append(v)
            }
            out[String(decoding: f[0], as: UTF8.self)] = WordNetIndexEntry(synsetOffsets: offsets, taggedSenseCount: tagged)
        }
        return out
    }

    /// The index entry of a lemma (lower case, multiword lemmas with underscores).
    public func entry(_ lemma: String, _ pos: PartOfSpeech) -> WordNetIndexEntry? { index[pos]?[lemma.lowercased()] }

    /// The lemmas of the synset at `offset` of the data file of `pos`, as written there (case kept, adjective
    /// markers removed); empty if the offset does not start a synset line.
    public func synsetLemmas(offset: Int, _ pos: PartOfSpeech) -> [String] {
        guard let bytes = data[pos], offset >= 0, offset < bytes.count, offset == 0 || bytes[offset - 1] == 0x0A else { return [] }
        var end = offset
        while end < bytes.count && bytes[end] != 0x0A { end += 1 }
        // offset lex_filenum ss_type w_cnt(hex) [word lex_id(hex)] × w_cnt …
        let f = bytes[offset..<end].split(separator: 0x20, maxSplits: 260)
        guard f.count >= 4, Int(String(decoding: f[0], as: UTF8.self)) == offset,
            let w = Int(String(decoding: f[3], as: UTF8.self), radix: 16), f.count >= 4 + 2 * w
        else { return [] }
        return (0..<w).map { k in
            var lemma = String(decoding: f[4 + 2 * k], as: UTF8.self)
            if lemma.hasSuffix(")"), let open = lemma.lastIndex(of: "(") { lemma = String(lemma[..<open]) }
            return lemma
        }
    }

    /// WordNet's detachment rules: (suffix of the inflected form, ending of the base, inflection).
    static let rules: [PartOfSpeech: [(String, String, Inflection)]] = [
        .noun: [
            ("s", "", .plural), ("ses", "s", .plural), ("xes", "x", .plural), ("zes", "z", .plural),
            ("ches", "ch", .plural), ("shes", "sh", .plural), ("men", "man", .plural), ("ies", "y", .plural),
        ],
        .verb: [
            ("s", "", .thirdPersonSingular), ("ies", "y", .thirdPersonSingular), ("es", "e", .thirdPersonSingular),
            ("es", "", .thirdPersonSingular), ("ed", "e", .past), ("ed", "", .past), ("ing", "e", .presentParticiple),
            ("ing", "", .presentParticiple),
        ],
        .adjective: [("er", "", .comparative), ("est", "", .superlative), ("er", "e", .comparative), ("est", "e", .superlative)],
        .adverb: [],
    ]

    /// Verb forms in the exception list that are third person singular although no rule makes them.
    static let irregularThirdPerson: Set<String> = ["is", "has", "does"]

    /// The inflection of an exception-list form (the list itself does not say).
    static func exceptionInflection(_ form: String, base: String, _ pos: PartOfSpeech) -> Inflection {
        switch pos {
        case .noun: return .plural
        case .verb:
            if form.hasSuffix("ing") { return .presentParticiple }
            if irregularThirdPerson.contains(form) || form == regularForm(base, .thirdPersonSingular) { return .thirdPersonSingular }
            return .past
        case .adjective, .adverb:
            return form.hasSuffix("st") ? .superlative : .comparative
        }
    }

    /// Every reading of `word` (compared in lower case) as `pos`: the word itself if it is a lemma, exception-list
    /// bases, then rule-made bases that are lemmas (WordNet's morphy, with the inflection each step implies).
    public func analyses(of word: String, _ pos: PartOfSpeech) -> [WordAnalysis] {
        let w = word.lowercased()
        guard let lemmas = index[pos] else { return [] }
        var out: [WordAnalysis] = []
        func add(_ a: WordAnalysis) { if !out.contains(a) { out.append(a) } }
        if lemmas[w] != nil { add(WordAnalysis(partOfSpeech: pos, base: w, inflection: .none)) }
        for b in exceptions[pos]?[w] ?? [] where lemmas[b] != nil {
            add(WordAnalysis(partOfSpeech: pos, base: b, inflection: Self.exceptionInflection(w, base: b, pos)))
        }
        for (suffix, ending, inflection) in Self.rules[pos] ?? [] where w.hasSuffix(suffix) && w.count > suffix.count {
            let b = String(w.dropLast(suffix.count)) + ending
            if lemmas[b] != nil { add(WordAnalysis(partOfSpeech: pos, base: b, inflection: inflection)) }
        }
        return out
    }

    /// Base forms of `word` as `pos` (WordNet's morphy), the word itself first when it is a lemma.
    public func baseForms(of word: String, _ pos: PartOfSpeech) -> [String] {
        var seen = Set<String>()
        return analyses(of: word, pos).map(\.base).filter { seen.insert($0).inserted }
    }

    /// The parts of speech `word` can have (some reading is a lemma of that index).
    public func partsOfSpeech(of word: String) -> [PartOfSpeech] {
        PartOfSpeech.allCases.filter { !analyses(of: word, $0).isEmpty }
    }

    /// Synonyms of the lemma `base` as `pos`: the other lemmas of its synsets, in sense order then synset order,
    /// lower-cased, without duplicates. Left out: multiword lemmas (with `_`), proper names (capitalised in the
    /// data file), and lemmas with characters other than letters and inner hyphens/apostrophes (they would not
    /// stay one word of the text).
    public func synonyms(ofLemma base: String, _ pos: PartOfSpeech) -> [String] {
        let key = base.lowercased()
        guard let e = index[pos]?[key] else { return [] }
        var out: [String] = [], seen: Set<String> = [key]
        for offset in e.synsetOffsets {
            for lemma in synsetLemmas(offset: offset, pos) {
                guard Self.isSingleWord(lemma), !(lemma.first?.isUppercase ?? true) else { continue }
                let l = lemma.lowercased()
                if seen.insert(l).inserted { out.append(l) }
            }
        }
        return out
    }

    /// Synonyms of a word form: those of each of its base forms as `pos` (`synonyms(ofLemma:)`), bases in
    /// `baseForms` order.
    public func synonyms(of word: String, _ pos: PartOfSpeech) -> [String] {
        var out: [String] = [], seen = Set(baseForms(of: word, pos))
        for b in baseForms(of: word, pos) {
            for s in synonyms(ofLemma: b, pos) where seen.insert(s).inserted { out.append(s) }
        }
        return out
    }

    static func isSingleWord(_ lemma: String) -> Bool {
        let c = Array(lemma)
        guard let first = c.first, let last = c.last, first.isLetter, last.isLetter else { return false }
        return c.allSatisfy { $0.isLetter || $0 == "-" || $0 == "'" } && !lemma.contains("--")
    }

    /// The regular (rule-made) form of a base: noun plural and verb -s (+es after s, x, z, ch, sh — and o for
    /// verbs; consonant + y → ies), -ing (e dropped except after e, o, y; ie → ying), -ed (+d after e, consonant +
    /// y → ied). Nil for inflections without a regular form here (comparatives and superlatives).
    static func regularForm(_ base: String, _ inflection: Inflection, verb: Bool = true) -> String? {
        let vowels: Set<Character> = ["a", "e", "i", "o", "u"]
        let c = Array(base)
        guard let last = c.last else { return nil }
        let consonantY = last == "y" && c.count >= 2 && !vowels.contains(c[c.count - 2])
        switch inflection {
        case .none: return base
        case .plural, .thirdPersonSingular:
            if ["s", "x", "z", "ch", "sh"].contains(where: base.hasSuffix) || (verb && inflection == .thirdPersonSingular && last == "o") {
                return base + "es"
            }
            return consonantY ? String(c.dropLast()) + "ies" : base + "s"
        case .presentParticiple:
            if base.hasSuffix("ie") { return String(c.dropLast(2)) + "ying" }
            if last == "e" && c.count >= 2 && !["e", "o", "y"].contains(c[c.count - 2]) { return String(c.dropLast()) + "ing" }
            return base + "ing"
        case .past:
            if last == "e" { return base + "d" }
            return consonantY ? String(c.dropLast()) + "ied" : base + "ed"
        case .comparative, .superlative: return nil
        }
    }

    /// A noun lemma ending in s but not in ss, us or is ("hymeneals", "lens"): possibly plural already (WordNet
    /// lists plural-only nouns as lemmas), so no regular plural is made for it.
    static func looksPlural(_ lemma: String) -> Bool {
        lemma.hasSuffix("s") && !["ss", "us", "is"].contains(where: lemma.hasSuffix)
    }

    /// `base` (a lemma of `pos`) inflected as `inflection`, if WordNet allows it: an exception-list form of that
    /// inflection other than the base itself ("gas gas" is listed too) when the base has exactly one (past forms: two different ones, e.g. "went"/"gone", mean past
    /// tense and participle cannot be told apart, so none is chosen); else the regular form for nouns and verbs
    /// (adjectives and adverbs: exception forms only; noun lemmas that `looksPlural` get no regular plural). The result must analyse back to `base` with the same
    /// inflection, so every form returned is one WordNet's morphology accepts.
    public func inflect(_ base: String, _ pos: PartOfSpeech, as inflection: Inflection) -> String? {
        let b = base.lowercased()
        guard index[pos]?[b] != nil else { return nil }
        if inflection == .none { return b }
        let listed = (inflectedForms[pos]?[b] ?? []).filter { $0 != b && Self.exceptionInflection($0, base: b, pos) == inflection }
        let form: String?
        if listed.count == 1 || (listed.count > 1 && inflection != .past) {
            form = listed[0]
        } else if listed.count > 1 {
            form = nil
        } else if pos == .noun && inflection == .plural && Self.looksPlural(b) {
            form = nil
        } else if pos == .noun || pos == .verb {
            form = Self.regularForm(b, inflection, verb: pos == .verb)
        } else {
            form = nil
        }
        guard let form, analyses(of: form, pos).contains(WordAnalysis(partOfSpeech: pos, base: b, inflection: inflection)) else {
            return nil
        }
        return form
    }
}
