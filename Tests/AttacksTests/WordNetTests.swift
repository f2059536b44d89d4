// The WordNet 3.0 reader on the real database (Debian's wordnet-base, installed by Scripts/setup): synsets, synonyms,
// morphology both ways, the part-of-speech rule of the substitutes, and the errors for a missing or broken database.
import Foundation
import Testing

@testable import Attacks

enum WordNetFixture {
    static let available = WordNet.requiredFiles.allSatisfy {
        FileManager.default.fileExists(atPath: WordNet.defaultDirectory.appendingPathComponent($0).path)
    }
    static let missing: Comment = "WordNet database not found in /usr/share/wordnet (apt-get install wordnet-base, or Scripts/setup)"
    /// Read once per test process (about 10 MB of index text).
    nonisolated(unsafe) static var cached: WordNet?
    static let lock = NSLock()
    static func wordNet() throws -> WordNet {
        lock.lock(); defer { lock.unlock() }
        if let cached { return cached }
        let w = try WordNet()
        cached = w
        return w
    }
}

@Suite("WordNet 3.0 reader", .enabled(if: WordNetFixture.available, WordNetFixture.missing))
struct WordNetTests {
    @Test("synonyms of real entries, in sense order, multiword lemmas and the word itself left out")
    func synonyms() throws {
        let wn = try WordNetFixture.wordNet()
        // good (adj.): synsets {good}, {full, good}, {good}, {estimable, good, honorable, respectable}, {beneficial, good}, …
        #expect(Array(wn.synonyms(ofLemma: "good", .adjective).prefix(5)) == ["full", "estimable", "honorable", "respectable", "beneficial"])
        // run (v.): {run}, {scat, run, scarper, turn_tail, lam, run_away, …, escape, …}, {run, go, pass, lead, extend}, {operate, run}, …
        let run = wn.synonyms(ofLemma: "run", .verb)
        #expect(Array(run.prefix(10)) == ["scat", "scarper", "lam", "bunk", "escape", "go", "pass", "lead", "extend", "operate"])
        #expect(!run.contains { $0.contains("_") } && !run.contains("run"))
        #expect(wn.synonyms(ofLemma: "film", .noun) == ["movie", "picture", "pic", "flick", "cinema", "celluloid"])
        #expect(wn.synonyms(ofLemma: "good", .verb).isEmpty)  // not a verb
        #expect(wn.synonyms(ofLemma: "zzzq", .noun).isEmpty)
        // A word form: the synonyms of its base forms.
        #expect(wn.synonyms(of: "films", .noun) == wn.synonyms(ofLemma: "film", .noun))
        // Adjective position markers are removed from lemmas (data.adj writes e.g. "galore(ip)").
        let galore = wn.entry("galore", .adjective)!.synsetOffsets.flatMap { wn.synsetLemmas(offset: $0, .adjective) }
        #expect(galore.contains("galore") && galore.allSatisfy { !$0.contains("(") })
        #expect(wn.synsetLemmas(offset: 1, .noun).isEmpty)  // not the start of a line
        #expect(wn.partsOfSpeech(of: "run") == [.noun, .verb])
    }

    @Test("morphology: exception lists (went → go) and detachment rules, with the inflection each implies")
    func morphology() throws {
        let wn = try WordNetFixture.wordNet()
        #expect(wn.baseForms(of: "went", .verb) == ["go"])
        #expect(wn.analyses(of: "went", .verb) == [WordAnalysis(partOfSpeech: .verb, base: "go", inflection: .past)])
        #expect(wn.analyses(of: "running", .verb).contains(WordAnalysis(partOfSpeech: .verb, base: "run", inflection: .presentParticiple)))
        #expect(wn.analyses(of: "children", .noun) == [WordAnalysis(partOfSpeech: .noun, base: "child", inflection: .plural)])
        #expect(wn.analyses(of: "films", .noun) == [WordAnalysis(partOfSpeech: .noun, base: "film", inflection: .plural)])
        #expect(wn.analyses(of: "has", .verb).contains(WordAnalysis(partOfSpeech: .verb, base: "have", inflection: .thirdPersonSingular)))
        #expect(wn.analyses(of: "tries", .verb).contains(WordAnalysis(partOfSpeech: .verb, base: "try", inflection: .thirdPersonSingular)))
        #expect(wn.analyses(of: "best", .adjective).contains(WordAnalysis(partOfSpeech: .adjective, base: "good", inflection: .superlative)))
        #expect(wn.analyses(of: "Went", .verb) == wn.analyses(of: "went", .verb))  // compared in lower case
        #expect(wn.baseForms(of: "xyzzies", .noun).isEmpty)
    }

    @Test("inflecting a base: regular rules, exception forms, the ambiguous past left out, a round trip required")
    func inflect() throws {
        let wn = try WordNetFixture.wordNet()
        #expect(wn.inflect("movie", .noun, as: .plural) == "movies")
        #expect(wn.inflect("box", .noun, as: .plural) == "boxes")
        #expect(wn.inflect("story", .noun, as: .plural) == "stories")
        #expect(wn.inflect("child", .noun, as: .plural) == "children")
        #expect(wn.inflect("hymeneals", .noun, as: .plural) == nil)  // a plural-only lemma: not "hymenealses"
        #expect(wn.inflect("virus", .noun, as: .plural) == "viruses")  // -us: not plural-looking, regular
        #expect(wn.inflect("lens", .noun, as: .plural) == nil)  // -ns: could be a plural, left out
        #expect(wn.inflect("gas", .noun, as: .plural) == "gasses")  // noun.exc: "gas gas", "gasses gas"
        #expect(wn.inflect("bus", .noun, as: .plural) == "busses")  // the exception list's form wins
        #expect(wn.inflect("try", .verb, as: .thirdPersonSingular) == "tries")
        #expect(wn.inflect("have", .verb, as: .thirdPersonSingular) == "has")
        #expect(wn.inflect("make", .verb, as: .presentParticiple) == "making")
        #expect(wn.inflect("stop", .verb, as: .presentParticiple) == "stopping")  // doubled: from verb.exc
        #expect(wn.inflect("play", .verb, as: .past) == "played")
        #expect(wn.inflect("run", .verb, as: .past) == "ran")
        #expect(wn.inflect("go", .verb, as: .past) == nil)  // went / gone: tense unknown, left out
        #expect(wn.inflect("good", .adjective, as: .superlative) == "best")
        #expect(wn.inflect("estimable", .adjective, as: .comparative) == nil)  // no exception form: not guessed
        #expect(wn.inflect("film", .noun, as: .none) == "film")
        #expect(wn.inflect("zzzq", .noun, as: .plural) == nil)  // not a lemma
    }

    @Test("substitutes keep the part of speech and inflection assigned by the stated rule, and the capitalisation")
    func substitutes() throws {
        let s = WordNetSubstitutes(wordNet: try WordNetFixture.wordNet())
        let words = TextWords("The Films went well, but to run the run was a good idea").words
        #expect(s.analysis(of: words, at: 1) == WordAnalysis(partOfSpeech: .noun, base: "film", inflection: .plural))
        #expect(s.analysis(of: words, at: 2) == WordAnalysis(partOfSpeech: .verb, base: "go", inflection: .past))
        #expect(s.analysis(of: words, at: 6)?.partOfSpeech == .verb)  // after "to"
        #expect(s.analysis(of: words, at: 8)?.partOfSpeech == .noun)  // after "the"
        #expect(s.analysis(of: words, at: 11) == WordAnalysis(partOfSpeech: .adjective, base: "good", inflection: .none))
        #expect(s.analysis(of: words, at: 0) == nil)  // a stop word
        #expect(s.analysis(of: ["it's"], at: 0) == nil && s.analysis(of: ["1999"], at: 0) == nil)

        let (reading, films) = try #require(s.candidates(words: words, at: 1, limit: 50))
        #expect(reading.inflection == .plural)
        #expect(films.map(\.word) == ["Movies", "Pictures", "Pics", "Flicks", "Cinemas", "Celluloids"])
        // Every substitute of every word is a form of its lemma with the original's part of speech and inflection.
        for i in words.indices {
            guard let (r, cs) = s.candidates(words: words, at: i, limit: 50) else { continue }
            for c in cs {
                #expect(
                    s.wordNet.analyses(of: c.word, r.partOfSpeech)
                        .contains(WordAnalysis(partOfSpeech: r.partOfSpeech, base: c.lemma, inflection: r.inflection)), "\(words[i]) → \(c.word)")
                #expect(c.word.lowercased() != words[i].lowercased() && !c.word.contains("_"))
            }
        }
        #expect(s.candidates(words: words, at: 1, limit: 2)?.substitutes.count == 2)
        #expect(WordNetSubstitutes.capitalised("movie", like: "FILM") == "MOVIE")
        #expect(WordNetSubstitutes.capitalised("movie", like: "Film") == "Movie")
        #expect(WordNetSubstitutes.capitalised("movie", like: "film") == "movie")
    }

    @Test("a missing database names the missing file; a broken line names file and line")
    func errors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wordnet-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: AttackError.wordNetMissing(path: dir.appendingPathComponent("index.noun").path)) { try WordNet(directory: dir) }
        let message = AttackError.wordNetMissing(path: dir.appendingPathComponent("index.noun").path).description
        #expect(message.contains("index.noun") && message.contains("wordnet-base") && !message.contains("\n"))
        // All files but data.verb: that one is named.
        for name in WordNet.requiredFiles where name != "data.verb" {
            try Data("cat n 1 0 1 0 02121620  \n".utf8).write(to: dir.appendingPathComponent(name))
        }
        #expect(throws: AttackError.wordNetMissing(path: dir.appendingPathComponent("data.verb").path)) { try WordNet(directory: dir) }
        // Every file present, but an index line with a wrong offset count.
        try Data("cat n 2 0 1 0 02121620  \n".utf8).write(to: dir.appendingPathComponent("data.verb"))
        try Data("  licence text\ncat n 2 0 1 0 02121620  \n".utf8).write(to: dir.appendingPathComponent("index.noun"))
        #expect {
            try WordNet(directory: dir)
        } throws: { e in
            guard case let .wordNetMalformed(path, line, _) = e as? AttackError else { return false }
            return path.hasSuffix("index.noun") && line == 2
        }
    }
}
