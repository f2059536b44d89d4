import Attacks
import Distributed
import Foundation
import Reports
import RobustAttention
import Testing

@testable import Coordinator

/// `equicert report attacks`: text-attack reports read back, compared with paired exact McNemar tests, and their
/// adversarial examples as Markdown.
@Suite("Report attacks: comparison and examples")
struct AttackComparisonTests {
    /// (idx, label, clean prediction, adversarial prediction) of a synthetic report's texts.
    typealias Text = (index: Int, label: Int, clean: Int, adversarial: Int)

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("attackcompare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static let manifestTemplate = """
        {"adaptive":"adaptive","attack":"textfooler","attention":"vanilla (A·V)","constraints":{"maxPerturbedFraction":0.25,\
        "queryBudget":2000,"seed":0,"stopWordsSkipped":true},"data":"rt-sentiment","examples":"x.examples.jsonl","figures":\
        {"accuracyUnderAttack":0,"cleanAccuracy":0,"cleanCorrect":0,"examples":0,"meanPerturbedFraction":0,"meanQueries":0,\
        "succeeded":0,"successRate":0},"maxLength":64,"model":"m.safetensors","modelSHA256":"0123456789abcdef","part":"test",\
        "recipe":"TextFooler","report":"x.tsv","tool":"equicert","version":"0.1.0","wallSeconds":1,"worldSize":1}
        """

    /// Writes `name.tsv` and `name.json` (figures computed from the rows) for `texts`; returns the report's path.
    @discardableResult
    static func write(
        _ texts: [Text], to dir: URL, name: String, attention: String = "vanilla (A·V)",
        edit: (inout AttackJob.TextManifest) -> Void = { _ in }
    ) throws -> String {
        let rows = texts.map { t in
            let success = t.clean == t.label && t.adversarial != t.label
            return AttackReport.Row(
                index: t.index, label: t.label, clean: t.clean, adversarial: t.adversarial, success: success,
                queries: t.clean == t.label ? 10 + t.index : 1, perturbedFraction: success ? 0.125 : 0, similarity: success ? 0.9 : nil,
                substitutions: success ? 1 : 0)
        }
        let path = dir.appendingPathComponent(name + ".tsv").path
        var manifest = try JSONDecoder().decode(AttackJob.TextManifest.self, from: Data(manifestTemplate.utf8))
        manifest.attention = attention
        manifest.figures = AttackReport(path: path, rows: rows, manifest: manifest).figures
        edit(&manifest)
        let tsv = rows.map { r in
            "\(r.index)\t\(r.label)\t\(r.clean)\t\(r.adversarial)\t\(r.success ? 1 : 0)\t\(r.queries)\t"
                + String(format: "%.4f", r.perturbedFraction) + "\t" + (r.similarity.map { String(format: "%.4f", $0) } ?? "")
                + "\t\(r.substitutions)"
        }
        try Data(([AttackReport.header] + tsv).joined(separator: "\n").appending("\n").utf8).write(to: URL(fileURLWithPath: path))
        try JSONEncoder().encode(manifest).write(to: URL(fileURLWithPath: AttackJob.TextOutputs(report: path).manifest))
        return path
    }

    static func message(_ body: () throws -> Void) -> String {
        do { try body() } catch { return "\(error)" }
        return "(no error)"
    }

    @Test("exact McNemar p: b = 10, c = 2 → 2·79/4096; symmetric, 1 without discordant pairs")
    func mcnemar() throws {
        let p = try AttackComparison.mcnemarPValue(b: 10, c: 2)
        #expect(abs(p - 0.03857421875) <= 1e-13)
        #expect(abs(try AttackComparison.mcnemarPValue(b: 2, c: 10) - 0.03857421875) <= 1e-13)
        #expect(try AttackComparison.mcnemarPValue(b: 0, c: 0) == 1)
        #expect(try AttackComparison.mcnemarPValue(b: 4, c: 4) == 1)
        #expect(abs(try AttackComparison.mcnemarPValue(b: 5, c: 0) - 0.0625) <= 1e-15)
        #expect(abs(try AttackComparison.mcnemarPValue(b: 1, c: 3) - 0.625) <= 1e-15)
    }

    @Test("paired counts, Δ in points and the Markdown table against the baseline")
    func pairedComparison() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Baseline: 0–3 clean-correct, 0 and 1 broken. Other: 0–2 and 4 clean-correct, only 2 broken.
        let base = try Self.write(
            [(0, 1, 1, 0), (1, 0, 0, 1), (2, 1, 1, 1), (3, 0, 0, 0), (4, 1, 0, 0), (5, 0, 1, 1)], to: dir, name: "vanilla")
        let other = try Self.write(
            [(0, 1, 1, 1), (1, 0, 0, 0), (2, 1, 1, 0), (3, 0, 1, 1), (4, 1, 1, 1), (5, 0, 1, 1)], to: dir, name: "mcp",
            attention: "mcp, K=3, ε=0.01, t=1.0, gradient full: per layer [mcp(γ=3.5)]")
        let comparison = try AttackComparison([try AttackReport.read(path: base), try AttackReport.read(path: other)])
        #expect(comparison.entries[0].clean == nil && comparison.entries[0].underAttack == nil)
        // Under attack: baseline right on 2, 3; other right on 0, 1, 4 → b = 3 (0, 1, 4), c = 2 (2, 3).
        let attacked = try #require(comparison.entries[1].underAttack)
        #expect(attacked.b == 3 && attacked.c == 2 && abs(attacked.delta - 100.0 / 6) < 1e-12 && attacked.p == 1)
        // Clean: baseline right on 0–3; other on 0, 1, 2, 4 → b = 1 (4), c = 1 (3).
        let clean = try #require(comparison.entries[1].clean)
        #expect(clean.b == 1 && clean.c == 1 && clean.delta == 0 && clean.p == 1)
        let markdown = comparison.markdown()
        #expect(markdown.contains("| vanilla (A·V) | vanilla.tsv | 6 | 66.7% | 33.3% | 50.0% |"))
        #expect(markdown.contains("| mcp, K=3, ε=0.01, t=1.0, gradient full | mcp.tsv | 6 | 66.7% | 50.0% | 25.0% |"))
        #expect(markdown.contains("| +0.0 | 1 / 1 | 1.000 | +16.7 | 3 / 2 | 1.000 |"))
        #expect(markdown.contains("Exact McNemar test, two-sided, paired on the same 6 texts"))
    }

    @Test("refused: other idx sets, labels, data, model; bad header, malformed rows, NaN, a manifest of another run, no manifest")
    func refusals() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let texts: [Text] = [(0, 1, 1, 0), (1, 0, 0, 0), (2, 1, 0, 0), (3, 0, 0, 1)]
        let base = try AttackReport.read(path: try Self.write(texts, to: dir, name: "base"))
        let shifted = try Self.write(Array(texts.prefix(3)) + [(5, 0, 0, 1)], to: dir, name: "shifted")
        let idx = Self.message { _ = try AttackComparison([base, try AttackReport.read(path: shifted)]) }
        #expect(idx.contains("cannot be compared") && idx.contains("idx 5 only in it") && idx.contains("idx 3 only in the baseline"))
        let relabelled = try Self.write(Array(texts.prefix(3)) + [(3, 1, 1, 1)], to: dir, name: "relabelled")
        #expect(Self.message { _ = try AttackComparison([base, try AttackReport.read(path: relabelled)]) }.contains("idx 3 has label 1, not 0"))
        let otherData = try Self.write(texts, to: dir, name: "data") { $0.data = "sst2" }
        #expect(Self.message { _ = try AttackComparison([base, try AttackReport.read(path: otherData)]) }.contains("data sst2, not rt-sentiment"))
        let otherModel = try Self.write(texts, to: dir, name: "model") { $0.modelSHA256 = "fedcba9876543210" }
        #expect(Self.message { _ = try AttackComparison([base, try AttackReport.read(path: otherModel)]) }.contains("model SHA-256"))
        let otherBudget = try Self.write(texts, to: dir, name: "budget") { $0.constraints.queryBudget = 100 }
        #expect(Self.message { _ = try AttackComparison([base, try AttackReport.read(path: otherBudget)]) }.contains("constraints"))
        let otherRun = try Self.write(texts, to: dir, name: "run") { $0.figures.succeeded = 1 }
        #expect(Self.message { _ = try AttackReport.read(path: otherRun) }.contains("different runs"))

        let header = "idx\tlabel\tclean\tadversarial\tsuccess\tqueries\tperturbed_fraction\tsimilarity\tsubstitutions\n"
        #expect(throws: ReportsError.wrongHeader(path: "r.tsv", expected: AttackReport.header, found: "idx\tlabel")) {
            _ = try AttackReport.parse("idx\tlabel\n0\t1\n", path: "r.tsv")
        }
        #expect(throws: ReportsError.malformedRow(path: "r.tsv", line: 2, reason: "perturbed_fraction 'nan' is not a number in [0.0, 1.0]")) {
            _ = try AttackReport.parse(header + "0\t1\t1\t0\t1\t5\tnan\t0.9\t1\n", path: "r.tsv")
        }
        #expect(throws: ReportsError.self) { _ = try AttackReport.parse(header + "0\t1\t1\t0\t1\t5\t0.1\n", path: "r.tsv") }
        #expect(throws: ReportsError.self) { _ = try AttackReport.parse(header + "0\t1\t1\t0\t0\t5\t0.1\t0.9\t1\n", path: "r.tsv") }
        #expect(throws: ReportsError.self) { _ = try AttackReport.parse(header + "0\t1\t1\t1\t0\t5\t0.1\tinf\t1\n", path: "r.tsv") }
        #expect(throws: ReportsError.duplicateIndex(path: "r.tsv", index: 0, firstLine: 2, line: 3)) {
            _ = try AttackReport.parse(header + "0\t1\t1\t1\t0\t5\t0.1\t\t0\n0\t1\t1\t1\t0\t5\t0.1\t\t0\n", path: "r.tsv")
        }
        let missing = dir.appendingPathComponent("none.tsv").path
        #expect(throws: ReportsError.fileUnreadable(path: missing, reason: "no such file")) { _ = try AttackReport.read(path: missing) }
        try FileManager.default.removeItem(atPath: dir.appendingPathComponent("base.json").path)
        #expect(Self.message { _ = try AttackReport.read(path: base.path) }.contains("no manifest beside the report"))
    }

    static func record(_ text: String, _ adversarial: String, _ changes: [(Int, String, String)]) -> AttackJob.ExampleRecord {
        AttackJob.ExampleRecord(
            index: 7, label: 1, clean: 1, adversarial: 0, success: true, queries: 12, perturbedFraction: 0.4, similarity: 0.91,
            text: text, adversarialText: adversarial,
            substitutions: changes.map { AttackJob.ExampleRecord.Change(position: $0.0, original: $0.1, replacement: $0.2) })
    }

    @Test("examples: substitutions marked at their TextWords positions; unmappable ones shown as two texts")
    func examplesMarkdown() throws {
        let r = Self.record("It's a well-made, dull film.", "It's a well-made, boring flick.", [(3, "dull", "boring"), (4, "film", "flick")])
        #expect(AttackExamples.marked(r) == "It's a well-made, ~~dull~~ **boring** ~~film~~ **flick**.")
        let emphasis = Self.record("A *great* film", "A *large* film", [(1, "great", "large")])
        #expect(AttackExamples.marked(emphasis) == "A \\*~~great~~ **large**\\* film")
        // Another word at the position, a position past the end, a rendering that is not the adversarial text.
        #expect(AttackExamples.marked(Self.record("a dull film", "a boring film", [(2, "dull", "boring")])) == nil)
        #expect(AttackExamples.marked(Self.record("a dull film", "a boring film", [(5, "dull", "boring")])) == nil)
        #expect(AttackExamples.marked(Self.record("a dull film", "a boring movie", [(1, "dull", "boring")])) == nil)

        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try Self.write([(5, 1, 1, 1), (7, 1, 1, 0), (9, 0, 0, 1)], to: dir, name: "ex")
        let report = try AttackReport.read(path: path)
        var unmapped = Self.record("a dull film", "a boring movie", [(1, "dull", "boring")])
        unmapped.index = 9; unmapped.label = 0; unmapped.clean = 0; unmapped.adversarial = 1
        let markdown = AttackExamples.markdown(report, records: [r, unmapped], count: 5)
        #expect(markdown.contains("The first 2 successful attacks in idx order (not selected: 2 successes among 3 clean-correct of 3"))
        #expect(markdown.contains("1. idx 7: label 1 → predicted 0 · 12 queries · similarity 0.910 · 2 words changed (40.0%)"))
        #expect(markdown.contains("   It's a well-made, ~~dull~~ **boring** ~~film~~ **flick**.\n"))
        #expect(markdown.contains("2. idx 9: label 0 → predicted 1"))
        #expect(markdown.contains("   original: a dull film\n\n   adversarial: a boring movie\n"))
        #expect(AttackExamples.markdown(report, records: [r, unmapped], count: 1).contains("The first 1 successful attacks"))
    }

    @Test("a real report: the figures recomputed from its TSV are its manifest's; compared with itself, nothing differs")
    func realReport() throws {
        let (dir, model) = try AttackJobTests.tinyCheckpoint()
        defer { try? FileManager.default.removeItem(at: dir) }
        // embedding-neighbours needs neither WordNet nor the sentence encoder: the report is always made.
        let outputs = AttackJob.TextOutputs(report: dir.appendingPathComponent("neighbours.tsv").path)
        let s = try AttackJobTests.settings(model, .embeddingNeighbours, out: outputs.report)
        _ = try ThreadGroup.run(size: 1, timeout: 600) { comm in try AttackJob(s).run(on: comm) }
        let report = try AttackReport.read(path: outputs.report)
        let mine = report.figures, theirs = report.manifest.figures
        #expect(mine.examples == theirs.examples && mine.cleanCorrect == theirs.cleanCorrect && mine.succeeded == theirs.succeeded)
        #expect(mine.cleanAccuracy == theirs.cleanAccuracy && mine.accuracyUnderAttack == theirs.accuracyUnderAttack)
        #expect(mine.successRate == theirs.successRate && mine.meanQueries == theirs.meanQueries)
        #expect(abs(mine.meanPerturbedFraction - theirs.meanPerturbedFraction) <= AttackReport.roundingTolerance)
        #expect((mine.meanSimilarity == nil) == (theirs.meanSimilarity == nil))
        #expect(theirs.succeeded > 0)
        let comparison = try AttackComparison([report, report])
        #expect(comparison.entries[1].underAttack == .init(delta: 0, b: 0, c: 0, p: 1))
        #expect(comparison.entries[1].clean == .init(delta: 0, b: 0, c: 0, p: 1))
        let records = try report.examples()
        #expect(records.map(\.index) == report.rows.map(\.index))
        let markdown = AttackExamples.markdown(report, records: records, count: 100)
        #expect(markdown.contains("The first \(theirs.succeeded) successful attacks in idx order"))
        for r in records where r.success {
            if let marked = AttackExamples.marked(r) {
                #expect(markdown.contains(marked))
                #expect(r.substitutions.allSatisfy { marked.contains("~~\(AttackComparison.escaped($0.original))~~") })
            }
        }
    }
}
