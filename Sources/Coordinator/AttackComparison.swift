import Attacks
import Foundation
import Statistics

/// Text-attack reports on the same texts compared (`equicert report attacks`): the figures of each, and against the
/// first (the baseline), paired on idx, the change in clean accuracy and in accuracy under attack with exact
/// two-sided McNemar tests. Reports of different texts, data, part, attack, constraints or model are refused: only
/// the attention rule may differ.
public struct AttackComparison: Sendable {
    /// One accuracy of a report against the baseline's on the same texts.
    public struct Paired: Sendable, Equatable {
        /// Difference in accuracy, in percentage points (report − baseline).
        public var delta: Double
        /// Discordant texts: right in this report and wrong in the baseline (b), and the reverse (c).
        public var b: Int, c: Int
        /// Exact two-sided McNemar p-value.
        public var p: Double
    }

    public struct Entry: Sendable {
        public var report: AttackReport
        public var figures: AttackJob.TextManifest.Figures
        /// Against the baseline (nil for the baseline itself).
        public var clean: Paired?, underAttack: Paired?
    }

    public var entries: [Entry]
    public var texts: Int { entries.first?.figures.examples ?? 0 }

    public init(_ reports: [AttackReport]) throws {
        guard let baseline = reports.first else {
            throw CoordinatorError.invalidOption(name: "reports", value: "", reason: "no report given")
        }
        for other in reports.dropFirst() { try Self.checkComparable(baseline, other) }
        entries = try reports.enumerated().map { i, r in
            guard i > 0 else { return Entry(report: r, figures: r.figures, clean: nil, underAttack: nil) }
            return Entry(
                report: r, figures: r.figures, clean: try Self.paired(baseline, r, \.cleanCorrect),
                underAttack: try Self.paired(baseline, r, \.correctUnderAttack))
        }
    }

    /// Exact two-sided McNemar test of b against c discordant pairs: the binomial test of b in b + c trials at ½
    /// (1 when there is no discordant pair).
    public static func mcnemarPValue(b: Int, c: Int) throws -> Double {
        b + c == 0 ? 1 : try BinomialTest.twoSidedPValue(successes: b, trials: b + c, p: 0.5)
    }

    static func paired(_ baseline: AttackReport, _ other: AttackReport, _ correct: (AttackReport.Row) -> Bool) throws -> Paired {
        var b = 0, c = 0
        for (x, y) in zip(baseline.rows, other.rows) {
            if correct(y) && !correct(x) { b += 1 }
            if correct(x) && !correct(y) { c += 1 }
        }
        return Paired(delta: 100 * Double(b - c) / Double(baseline.rows.count), b: b, c: c, p: try mcnemarPValue(b: b, c: c))
    }

    /// Same texts (idx sets and labels), data, part, attack with its constraints, and model; else a one-line refusal.
    static func checkComparable(_ a: AttackReport, _ b: AttackReport) throws {
        func refuse(_ what: String) -> CoordinatorError {
            .mismatch("\(b.path) cannot be compared with the baseline \(a.path): \(what) (only the attention rule may differ)")
        }
        let (ma, mb) = (a.manifest, b.manifest)
        for (name, x, y) in [("data", ma.data, mb.data), ("part", ma.part, mb.part), ("attack", ma.attack, mb.attack)] where x != y {
            throw refuse("\(name) \(y), not \(x)")
        }
        if let ha = ma.modelSHA256, let hb = mb.modelSHA256 {
            guard ha == hb else { throw refuse("model SHA-256 \(hb.prefix(12))…, not \(ha.prefix(12))…") }
        } else if ma.model != mb.model {
            throw refuse("model \(mb.model), not \(ma.model) (no SHA-256 to compare)")
        }
        guard ma.maxLength == mb.maxLength else { throw refuse("max length \(mb.maxLength), not \(ma.maxLength)") }
        guard sameAttack(ma.constraints, mb.constraints) else { throw refuse("other attack constraints (budget, thresholds or seed)") }
        let ia = a.rows.map(\.index), ib = b.rows.map(\.index)
        guard ia == ib else {
            let onlyA = Set(ia).subtracting(ib).sorted(), onlyB = Set(ib).subtracting(ia).sorted()
            var parts: [String] = []
            if !onlyB.isEmpty { parts.append("idx \(AttackReport.list(onlyB)) only in it") }
            if !onlyA.isEmpty { parts.append("idx \(AttackReport.list(onlyA)) only in the baseline") }
            throw refuse("other texts (\(ib.count) against \(ia.count); " + parts.joined(separator: ", ") + ")")
        }
        if let (x, y) = zip(a.rows, b.rows).first(where: { $0.label != $1.label }) {
            throw refuse("idx \(x.index) has label \(y.label), not \(x.label)")
        }
    }

    /// The settings that make two attacks the same attack (the resources' paths may differ between machines).
    static func sameAttack(_ a: AttackJob.TextManifest.Constraints, _ b: AttackJob.TextManifest.Constraints) -> Bool {
        a.maxPerturbedFraction == b.maxPerturbedFraction && a.queryBudget == b.queryBudget && a.stopWordsSkipped == b.stopWordsSkipped
            && a.candidatesPerWord == b.candidatesPerWord && a.similarityThreshold == b.similarityThreshold
            && a.similarityWindowWords == b.similarityWindowWords && a.embeddingNeighbours == b.embeddingNeighbours
            && a.embeddingCosineFloor == b.embeddingCosineFloor && a.seed == b.seed
    }

    /// The attention rule without its per-layer details: "mcp, K=3, ε=0.01, t=1.0, gradient full", "vanilla (A·V)".
    public static func ruleLabel(_ attention: String) -> String {
        attention.range(of: ": ").map { String(attention[..<$0.lowerBound]) } ?? attention
    }

    /// The comparison as Markdown: a heading line, one table row per report, the test and the reports in full.
    public func markdown() -> String {
        let base = entries[0].report
        let m = base.manifest
        let model = m.modelSHA256.map { "model SHA-256 \($0.prefix(12))…" } ?? "model \(m.model)"
        var s = "\(m.attack) on \(m.data) \(m.part), \(texts) texts, \(model); baseline: \(Self.ruleLabel(m.attention))\n\n"
        s +=
            "| attention | report | texts | clean acc | acc under attack | attack success rate | mean queries | perturbed words (successes) | similarity (successes) "
        s += "| Δ clean (points) | clean b / c | clean p | Δ under attack (points) | under attack b / c | under attack p |\n"
        s += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        func paired(_ x: Paired?) -> String {
            guard let x else { return "baseline | – | –" }
            return String(format: "%+.1f | %d / %d | %@", x.delta, x.b, x.c, Self.pValue(x.p))
        }
        for e in entries {
            let f = e.figures
            s += String(
                format: "| %@ | %@ | %d | %.1f%% | %.1f%% | %.1f%% | %.1f | %.1f%% | %@ | %@ | %@ |\n",
                Self.cell(Self.ruleLabel(e.report.manifest.attention)),
                Self.cell(URL(fileURLWithPath: e.report.path).lastPathComponent), f.examples, 100 * f.cleanAccuracy, 100 * f.accuracyUnderAttack,
                100 * f.successRate, f.meanQueries, 100 * f.meanPerturbedFraction, f.meanSimilarity.map { String(format: "%.3f", $0) } ?? "–",
                paired(e.clean), paired(e.underAttack))
        }
        s += "\nExact McNemar test, two-sided, paired on the same \(texts) texts: b = texts a report gets right and the baseline wrong, "
        s += "c = the reverse, p = the binomial test of b in b + c at ½ (1 when b + c = 0). "
        s += "Attack success rate: successful attacks over the clean-correct texts; mean queries over those texts.\n"
        s += "\nAttention rules in full:\n\n"
        for e in entries { s += "- \(e.report.path): \(Self.escaped(e.report.manifest.attention))\n" }
        return s
    }

    static func pValue(_ p: Double) -> String { p >= 0.001 ? String(format: "%.3f", p) : String(format: "%.1e", p) }

    /// A table cell: `|` escaped.
    static func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }

    /// Text shown as Markdown literally: its punctuation of emphasis, code, links and HTML backslash-escaped.
    static func escaped(_ s: String) -> String {
        var out = ""
        for ch in s {
            if "\\`*_~[]<>|#".contains(ch) { out.append("\\") }
            out.append(ch)
        }
        return out
    }
}

/// Successful adversarial examples of a text-attack report as Markdown (`equicert report attacks --examples N`): the
/// first N successes in idx order, each substituted word shown as `~~original~~ **replacement**`.
public enum AttackExamples {
    /// The examples section of one report.
    public static func markdown(_ report: AttackReport, records: [AttackJob.ExampleRecord], count: Int) -> String {
        let m = report.manifest, f = report.figures
        let wins = records.filter(\.success).prefix(count)
        var s = "### \(m.attack) against \(AttackComparison.escaped(AttackComparison.ruleLabel(m.attention))) — \(report.path)\n\n"
        s += "The first \(wins.count) successful attacks in idx order (not selected: \(f.succeeded) successes among \(f.cleanCorrect) "
        s += "clean-correct of \(f.examples) \(m.data) \(m.part) texts). Substituted words: ~~original~~ **replacement**.\n\n"
        for (k, r) in wins.enumerated() {
            let similarity = r.similarity.map { String(format: " · similarity %.3f", $0) } ?? ""
            s += "\(k + 1). idx \(r.index): label \(r.label) → predicted \(r.adversarial) · \(r.queries) queries\(similarity) · "
            s += "\(r.substitutions.count) word\(r.substitutions.count == 1 ? "" : "s") changed"
            s += String(format: " (%.1f%%)\n\n", 100 * r.perturbedFraction)
            if let marked = marked(r) {
                s += "   \(marked)\n\n"
            } else {
                s += "   original: \(AttackComparison.escaped(r.text))\n\n"
                s += "   adversarial: \(AttackComparison.escaped(r.adversarialText))\n\n"
            }
        }
        return s
    }

    /// The clean text with its substitutions marked, words cut as the attack cuts them (`TextWords`); nil when the
    /// substitutions do not map onto those words (a position out of range, another word there, or the marked words
    /// not giving the adversarial text).
    public static func marked(_ r: AttackJob.ExampleRecord) -> String? {
        let words = TextWords(r.text)
        var replacements: [Int: String] = [:]
        for c in r.substitutions {
            guard words.words.indices.contains(c.position), words.words[c.position] == c.original, replacements[c.position] == nil else {
                return nil
            }
            replacements[c.position] = c.replacement
        }
        guard !replacements.isEmpty, words.render(replacing: replacements) == r.adversarialText else { return nil }
        var out = AttackComparison.escaped(words.separators[0])
        for (i, w) in words.words.enumerated() {
            if let new = replacements[i] {
                out += "~~\(AttackComparison.escaped(w))~~" + (new.isEmpty ? "" : " **\(AttackComparison.escaped(new))**")
            } else {
                out += AttackComparison.escaped(w)
            }
            out += AttackComparison.escaped(words.separators[i + 1])
        }
        return out
    }
}
