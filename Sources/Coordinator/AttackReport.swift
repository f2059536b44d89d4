import Foundation
import Reports

/// A text-attack report read back (`equicert attack` on a text classifier): the rows of `x.tsv` and the manifest
/// `x.json` beside it. The figures are recomputed from the rows the way the attack job computes them
/// (`TextAttackSummary`) and checked against the manifest's, so a report and a manifest of different runs are refused.
public struct AttackReport: Sendable {
    /// One attacked text. `clean`/`adversarial` are predicted classes: on the clean text, and on the final text
    /// (for a text misclassified clean, the unchanged text: `adversarial == clean`, `success` 0, 1 query).
    public struct Row: Sendable, Equatable {
        public var index: Int, label: Int, clean: Int, adversarial: Int
        public var success: Bool
        public var queries: Int
        /// Fraction of the visible words changed (4 decimals in the TSV).
        public var perturbedFraction: Double
        /// Sentence similarity of the final text to the clean one (4 decimals; absent where none was computed).
        public var similarity: Double?
        public var substitutions: Int

        public init(
            index: Int, label: Int, clean: Int, adversarial: Int, success: Bool, queries: Int, perturbedFraction: Double,
            similarity: Double?, substitutions: Int
        ) {
            self.index = index; self.label = label; self.clean = clean; self.adversarial = adversarial
            self.success = success; self.queries = queries; self.perturbedFraction = perturbedFraction
            self.similarity = similarity; self.substitutions = substitutions
        }

        /// Attacked at all: the clean prediction was right.
        public var cleanCorrect: Bool { clean == label }
        /// Still right after the attack (right on the clean text and the attack failed).
        public var correctUnderAttack: Bool { clean == label && adversarial == label }
    }

    public static let header = "idx\tlabel\tclean\tadversarial\tsuccess\tqueries\tperturbed_fraction\tsimilarity\tsubstitutions"
    /// The TSV keeps the fractions and similarities to 4 decimals: their means agree with the manifest's to this.
    public static let roundingTolerance = 5e-5

    public var path: String
    /// In idx order.
    public var rows: [Row]
    public var manifest: AttackJob.TextManifest

    public init(path: String, rows: [Row], manifest: AttackJob.TextManifest) {
        self.path = path; self.rows = rows.sorted { $0.index < $1.index }; self.manifest = manifest
    }

    public var manifestPath: String { AttackJob.TextOutputs(report: path).manifest }
    public var examplesPath: String { AttackJob.TextOutputs(report: path).examples }

    /// Reads `path` and its manifest, and checks that the manifest's figures are those of the rows.
    public static func read(path: String) throws -> AttackReport {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "\(error.localizedDescription)" : "no such file"
            throw ReportsError.fileUnreadable(path: path, reason: reason)
        }
        let rows = try parse(text, path: path)
        let manifestPath = AttackJob.TextOutputs(report: path).manifest
        guard let data = FileManager.default.contents(atPath: manifestPath) else {
            throw CoordinatorError.checkpoint(path: manifestPath, reason: "no manifest beside the report \(path) (`equicert attack --out` writes it)")
        }
        let manifest: AttackJob.TextManifest
        do { manifest = try JSONDecoder().decode(AttackJob.TextManifest.self, from: data) } catch {
            throw CoordinatorError.checkpoint(path: manifestPath, reason: "not a text-attack manifest (\(error))")
        }
        let report = AttackReport(path: path, rows: rows, manifest: manifest)
        try report.checkFigures()
        return report
    }

    /// The rows of a report's text (header first; every row 9 tab-separated fields, one per idx).
    public static func parse(_ text: String, path: String) throws -> [Row] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        guard let first = lines.first, first == header else {
            throw ReportsError.wrongHeader(path: path, expected: header, found: lines.first ?? "")
        }
        var rows: [Row] = []
        var lineOf: [Int: Int] = [:]
        for (i, line) in lines.enumerated().dropFirst() {
            let number = i + 1
            func bad(_ reason: String) -> ReportsError { .malformedRow(path: path, line: number, reason: reason) }
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 9 else { throw bad("\(f.count) fields, expected 9 (\(header.replacingOccurrences(of: "\t", with: " ")))") }
            func int(_ k: Int, _ name: String, minimum: Int) throws -> Int {
                guard let v = Int(f[k]), v >= minimum else { throw bad("\(name) '\(f[k])' is not an integer ≥ \(minimum)") }
                return v
            }
            func fraction(_ k: Int, _ name: String, range: ClosedRange<Double>) throws -> Double {
                guard let v = Double(f[k]), v.isFinite, range.contains(v) else {
                    throw bad("\(name) '\(f[k])' is not a number in [\(range.lowerBound), \(range.upperBound)]")
                }
                return v
            }
            let index = try int(0, "idx", minimum: 0)
            let label = try int(1, "label", minimum: 0)
            let clean = try int(2, "clean", minimum: -1)
            let adversarial = try int(3, "adversarial", minimum: -1)
            guard f[4] == "0" || f[4] == "1" else { throw bad("success '\(f[4])' is not 0 or 1") }
            let success = f[4] == "1"
            guard success == (clean == label && adversarial != label) else {
                throw bad("success \(f[4]) contradicts label \(label), clean \(clean), adversarial \(adversarial)")
            }
            let row = Row(
                index: index, label: label, clean: clean, adversarial: adversarial, success: success,
                queries: try int(5, "queries", minimum: 0), perturbedFraction: try fraction(6, "perturbed_fraction", range: 0...1),
                similarity: f[7].isEmpty ? nil : try fraction(7, "similarity", range: -1...1),
                substitutions: try int(8, "substitutions", minimum: 0))
            if let firstLine = lineOf[index] { throw ReportsError.duplicateIndex(path: path, index: index, firstLine: firstLine, line: number) }
            lineOf[index] = number
            rows.append(row)
        }
        guard !rows.isEmpty else { throw ReportsError.emptyReport(path: path) }
        return rows
    }

    /// The manifest's figures recomputed from the rows, as `TextAttackSummary` and the attack job compute them:
    /// accuracies over all texts, the success rate over the clean-correct ones, mean queries over the attacked
    /// (clean-correct) texts, mean perturbed fraction and similarity over the successful attacks.
    public var figures: AttackJob.TextManifest.Figures {
        let n = rows.count
        let attacked = rows.filter(\.cleanCorrect)
        let wins = rows.filter(\.success)
        let robust = rows.filter(\.correctUnderAttack).count
        let similarities = wins.compactMap(\.similarity)
        return AttackJob.TextManifest.Figures(
            examples: n, cleanCorrect: attacked.count, succeeded: wins.count,
            cleanAccuracy: n == 0 ? 0 : Double(attacked.count) / Double(n),
            accuracyUnderAttack: n == 0 ? 0 : Double(robust) / Double(n),
            successRate: attacked.isEmpty ? 0 : Double(wins.count) / Double(attacked.count),
            meanQueries: attacked.isEmpty ? 0 : Double(attacked.map(\.queries).reduce(0, +)) / Double(attacked.count),
            meanPerturbedFraction: wins.isEmpty ? 0 : wins.map(\.perturbedFraction).reduce(0, +) / Double(wins.count),
            meanSimilarity: similarities.isEmpty ? nil : similarities.reduce(0, +) / Double(similarities.count))
    }

    /// Refuses a manifest whose figures are not those of the rows: counts, rates and mean queries exactly, the
    /// means of the 4-decimal columns to `roundingTolerance`.
    func checkFigures() throws {
        let mine = figures, theirs = manifest.figures
        func close(_ a: Double?, _ b: Double?) -> Bool {
            switch (a, b) {
            case (nil, nil): return true
            case let (x?, y?): return abs(x - y) <= Self.roundingTolerance
            default: return false
            }
        }
        let same =
            mine.examples == theirs.examples && mine.cleanCorrect == theirs.cleanCorrect && mine.succeeded == theirs.succeeded
            && mine.cleanAccuracy == theirs.cleanAccuracy && mine.accuracyUnderAttack == theirs.accuracyUnderAttack
            && mine.successRate == theirs.successRate && mine.meanQueries == theirs.meanQueries
            && close(mine.meanPerturbedFraction, theirs.meanPerturbedFraction) && close(mine.meanSimilarity, theirs.meanSimilarity)
        guard same else {
            throw CoordinatorError.mismatch(
                "\(path): its rows (\(mine.examples) texts, \(mine.cleanCorrect) clean-correct, \(mine.succeeded) attacks succeeded) "
                    + "do not give the figures of its manifest \(manifestPath) (\(theirs.examples), \(theirs.cleanCorrect), "
                    + "\(theirs.succeeded)): the two files are of different runs")
        }
    }

    /// The records of `x.examples.jsonl` (texts and substitutions), in idx order; their successes must be the rows'.
    public func examples() throws -> [AttackJob.ExampleRecord] {
        let file = examplesPath
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            let reason = FileManager.default.fileExists(atPath: file) ? "\(error.localizedDescription)" : "no such file"
            throw ReportsError.fileUnreadable(path: file, reason: reason)
        }
        var records: [AttackJob.ExampleRecord] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            do { records.append(try JSONDecoder().decode(AttackJob.ExampleRecord.self, from: Data(line.utf8))) } catch {
                throw ReportsError.malformedRow(path: file, line: i + 1, reason: "not an example record (\(error))")
            }
        }
        records.sort { $0.index < $1.index }
        let recorded = records.filter(\.success).map(\.index), reported = rows.filter(\.success).map(\.index)
        guard recorded == reported else {
            throw CoordinatorError.mismatch(
                "\(file): its successful attacks (idx \(Self.list(recorded))) are not those of \(path) (idx \(Self.list(reported))): "
                    + "the two files are of different runs")
        }
        return records
    }

    /// Up to 8 indices, then "…".
    static func list(_ indices: [Int]) -> String {
        indices.prefix(8).map(String.init).joined(separator: ", ") + (indices.count > 8 ? ", …" : "")
    }
}
