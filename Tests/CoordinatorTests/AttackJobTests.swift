import Attacks
import Coordinator
import Datasets
import Distributed
import Foundation
import RobustAttention
import Testing

/// The text side of `AttackJob`: the published recipes on a tiny MiniLM-architecture classifier, the report files,
/// identical results at 1 and 2 in-process ranks, and the bad inputs of the attack issue.
@Suite("Attack job: text recipes")
struct AttackJobTests {
    static let wordNetAvailable = WordNet.requiredFiles.allSatisfy {
        FileManager.default.fileExists(atPath: WordNet.defaultDirectory.appendingPathComponent($0).path)
    }
    /// all-MiniLM-L6-v2 (the sentence encoder): `$EQUICERT_DATA/minilm`, `<package>/data/minilm` or `/work/main/data/minilm`.
    static let encoderDirectory: String? = {
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var candidates = [package.appendingPathComponent("data/minilm").path, "/work/main/data/minilm"]
        if let d = ProcessInfo.processInfo.environment["EQUICERT_DATA"] { candidates.insert(d + "/minilm", at: 0) }
        return candidates.first { dir in
            ["model.safetensors", "vocab.txt", "config.json"].allSatisfy { FileManager.default.fileExists(atPath: dir + "/" + $0) }
        }
    }()
    static var resourcesAvailable: Bool { wordNetAvailable && encoderDirectory != nil }

    /// A tiny random-encoder classifier fine-tuned on 40 BBC articles (max length 32), in a fresh directory.
    static func tinyCheckpoint() throws -> (dir: URL, model: String) {
        let data = try TextDataSource.bbcNews.load(limit: 40)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("attackjob-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var words = Set<String>()
        for t in data.texts {
            for w in t.lowercased().split(whereSeparator: { !$0.isLetter }) { words.insert(String(w)) }
        }
        try Data((["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + words.sorted()).joined(separator: "\n").utf8)
            .write(to: dir.appendingPathComponent("vocab.txt"))
        let model = dir.appendingPathComponent("tiny.safetensors").path
        var o = TextTrainingJob.Options(data: .bbcNews, epochs: 12, output: model)
        o.encoder = .scratch(
            hiddenSize: 16, layerCount: 1, headCount: 2, intermediateSize: 32, vocabulary: dir.appendingPathComponent("vocab.txt").path)
        o.limit = 40; o.batchSize = 8; o.learningRate = 3e-3; o.warmupSteps = 0; o.maxLength = 32; o.seed = 5
        o.showProgress = false
        _ = try TextTrainingJob(o).run { _ in }
        return (dir, model)
    }

    static func settings(_ model: String, _ method: AttackJob.Method, out: String?) throws -> AttackJob.Settings {
        var s = AttackJob.Settings(model: model, method: method, attention: try RobustAttentionSettings(rule: .vanilla), calibrationCount: 8)
        s.max = 0; s.part = .heldOut; s.queryBudget = 300; s.candidates = 10
        s.sentenceEncoder = encoderDirectory; s.output = out
        return s
    }

    @Test(
        "textfooler, pwws, deepwordbug, embedding-neighbours: byte-identical reports at 1 and 2 ranks; the files agree with the table",
        .enabled(if: resourcesAvailable, "needs WordNet (apt-get install wordnet-base) and all-MiniLM-L6-v2 (Scripts/setup)"))
    func ranksAgree() throws {
        let (dir, model) = try Self.tinyCheckpoint()
        defer { try? FileManager.default.removeItem(at: dir) }
        for method in [AttackJob.Method.textFooler, .pwws, .deepWordBug, .embeddingNeighbours] {
            var files: [[Data]] = []
            for size in [1, 2] {
                let outputs = AttackJob.TextOutputs(report: dir.appendingPathComponent("\(method.rawValue)-\(size).tsv").path)
                let s = try Self.settings(model, method, out: outputs.report)
                let lines = try ThreadGroup.run(size: size, timeout: 600) { comm in try AttackJob(s).run(on: comm) }
                #expect(lines[0] != nil && lines.dropFirst().allSatisfy { $0 == nil })
                files.append(try [outputs.report, outputs.examples].map { try Data(contentsOf: URL(fileURLWithPath: $0)) })
                let manifest = try JSONDecoder().decode(
                    AttackJob.TextManifest.self, from: try Data(contentsOf: URL(fileURLWithPath: outputs.manifest)))
                #expect(manifest.worldSize == size && manifest.attack == method.rawValue && manifest.figures.examples == 10)
                #expect(manifest.constraints.similarityThreshold == (method == .textFooler ? 0.7 : nil))
                #expect(manifest.constraints.candidatesPerWord == (method == .textFooler || method == .pwws ? 10 : nil))
                #expect(manifest.adaptive.contains("attention rule installed"))
                // The table's row, the TSV and the JSON lines describe the same examples.
                let tsv = String(decoding: files.last![0], as: UTF8.self).split(separator: "\n")
                #expect(tsv.count == 11 && tsv[0].hasPrefix("idx\tlabel\tclean\tadversarial\tsuccess\tqueries\tperturbed_fraction\tsimilarity"))
                let records = try String(decoding: files.last![1], as: UTF8.self).split(separator: "\n").map {
                    try JSONDecoder().decode(AttackJob.ExampleRecord.self, from: Data($0.utf8))
                }
                #expect(records.map(\.index) == Array(0..<10))
                #expect(records.filter(\.success).count == manifest.figures.succeeded)
                #expect(manifest.figures.succeeded > 0, "the tiny model should lose at least one example to \(method.rawValue)")
                for r in records {
                    #expect(r.queries <= 300)
                    #expect(r.success == (r.clean == r.label && r.adversarial != r.label))
                    if r.clean != r.label { #expect(r.adversarialText == r.text && r.substitutions.isEmpty && r.queries == 1) }
                    // Recipes record the similarity of every attacked example; the old attack does not.
                    #expect((r.similarity != nil) == (method != .embeddingNeighbours && r.clean == r.label))
                    for c in r.substitutions {
                        #expect(TextWords(r.text).words[c.position] == c.original && TextWords(r.adversarialText).words[c.position] == c.replacement)
                        if method == .textFooler { #expect(Double(c.windowSimilarity ?? 0) >= 0.7) }
                    }
                }
                let table = try #require(lines[0]?.first { $0.hasPrefix("| \(method.rawValue) |") })
                #expect(table.contains(String(format: "%.1f%%", 100 * manifest.figures.accuracyUnderAttack)))
            }
            #expect(files[0] == files[1], "\(method.rawValue): 1 and 2 ranks differ")
        }
    }

    @Test("bad input: threshold outside [0, 1], other ranges, missing WordNet, missing encoder, empty text, wrong attack for the model")
    func badInput() throws {
        var s = AttackJob.Settings(
            model: "none.safetensors", method: .textFooler, attention: try RobustAttentionSettings(rule: .vanilla), calibrationCount: 8)
        s.similarityThreshold = 1.5
        #expect(throws: AttackError.similarityThresholdOutOfRange(value: 1.5)) { _ = try s.recipeConfiguration() }
        s.similarityThreshold = -0.1
        #expect(throws: AttackError.similarityThresholdOutOfRange(value: -0.1)) { _ = try s.recipeConfiguration() }
        s.similarityThreshold = 0.7; s.maxWordFraction = 0
        #expect(throws: AttackError.self) { _ = try s.recipeConfiguration() }
        s.maxWordFraction = 0.25; s.queryBudget = 0
        #expect(throws: AttackError.self) { _ = try s.recipeConfiguration() }
        s.queryBudget = 2000
        #expect(try s.recipeConfiguration()?.recipe == .textFooler)
        s.method = .embeddingNeighbours
        #expect(try s.recipeConfiguration() == nil)
        // A missing WordNet database: one line naming the file and the package, before the checkpoint is read.
        let (dir, model) = try Self.tinyCheckpoint()
        defer { try? FileManager.default.removeItem(at: dir) }
        var w = try Self.settings(model, .pwws, out: nil)
        w.wordNetDirectory = dir.appendingPathComponent("no-wordnet").path
        do {
            _ = try AttackJob(w).run(on: SingleProcessCommunicator())
            Issue.record("a missing WordNet was not reported")
        } catch let e as AttackError {
            #expect(e == .wordNetMissing(path: dir.appendingPathComponent("no-wordnet/index.noun").path))
            #expect("\(e)".contains("apt-get install wordnet-base") && "\(e)".contains("no-wordnet/index.noun") && !"\(e)".contains("\n"))
        }
        // A sentence-encoder directory without the model.
        var e = try Self.settings(model, .deepWordBug, out: nil)
        e.sentenceEncoder = dir.path
        #expect(throws: CoordinatorError.self) { _ = try AttackJob(e).run(on: SingleProcessCommunicator()) }
        // A text without words.
        #expect(throws: AttackError.emptyText(index: 1)) { try AttackJob.checkTexts(["a film", " ,.; ", "x"], count: 3) }
        #expect(throws: Never.self) { try AttackJob.checkTexts(["a film", " ,.; "], count: 1) }
        // pgd is for ViTs.
        #expect(throws: CoordinatorError.self) { _ = try AttackJob(try Self.settings(model, .pgd, out: nil)).run(on: SingleProcessCommunicator()) }
    }

    @Test("report file names: x.tsv → x.examples.jsonl and x.json")
    func outputs() {
        let o = AttackJob.TextOutputs(report: "r/rt-pwws-mcp.tsv")
        #expect(o.all == ["r/rt-pwws-mcp.tsv", "r/rt-pwws-mcp.examples.jsonl", "r/rt-pwws-mcp.json"])
        #expect(AttackJob.TextOutputs(report: "out").all == ["out", "out.examples.jsonl", "out.json"])
    }
}
