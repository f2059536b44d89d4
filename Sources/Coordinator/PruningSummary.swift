import Foundation
import Pruning

/// The summary of several pruning reports (`equicert report pruning`): per configuration (method, with/without
/// full evaluation, rank count) and stage, the test and validation accuracy as mean ± sample std over seeds, the
/// paired difference to magnitude IMP with the same seed, cost in epochs (without the diagnostic full evaluation),
/// stage wall time (runs without full evaluation); and the rank correlations of early against full evaluation.
public enum PruningSummary {
    public static func read(_ paths: [String]) throws -> [PruneJob.Report] {
        try paths.map { p in
            guard let data = FileManager.default.contents(atPath: p) else { throw CoordinatorError.checkpoint(path: p, reason: "no such file") }
            do { return try JSONDecoder().decode(PruneJob.Report.self, from: data) } catch {
                throw CoordinatorError.checkpoint(path: p, reason: "not a pruning report (\(error))")
            }
        }
    }

    static func meanStd(_ v: [Double]) -> (mean: Double, std: Double) {
        let m = v.reduce(0, +) / Double(max(v.count, 1))
        guard v.count > 1 else { return (m, 0) }
        return (m, (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count - 1)).squareRoot())
    }

    static func configuration(_ r: PruneJob.Report) -> String {
        var s = r.settings.method.rawValue
        if r.settings.method == .random { s += " (K=\(r.settings.candidates))" }
        if r.ranks > 1 { s += " @\(r.ranks) ranks" }
        return s
    }

    /// Epochs a stage spent on `fullEvaluation` (every candidate retrained: a diagnostic, not part of the method's cost).
    static func diagnosticEpochs(_ r: PruneJob.Report, _ st: PruningStageRecord) -> Double {
        guard r.settings.fullEvaluation, st.candidates.count > 1 else { return 0 }
        return Double(st.candidates.count * r.settings.retrainSteps * r.settings.batchSize) / Double(max(r.trainingExamples, 1))
    }

    public static func markdown(_ reports: [PruneJob.Report]) -> String {
        var s =
            "| configuration | seeds | sparsity | test accuracy | Δ vs magnitude (paired) | validation | epochs (cum.) | stage s (selection + retrain) |\n"
        s += "|---|---|---|---|---|---|---|---|\n"
        let groups = Dictionary(grouping: reports, by: configuration)
        let magnitude = reports.filter { $0.settings.method == .magnitude && $0.ranks == 1 }
        let order = groups.keys.sorted { a, b in
            let rank: (String) -> Int = { $0.hasPrefix("magnitude") ? 0 : $0.hasPrefix("single") ? 1 : 2 }
            return (rank(a), a) < (rank(b), b)
        }
        for key in order {
            let runs = groups[key]!.sorted { $0.settings.seed < $1.settings.seed }
            let seeds = runs.map { "\($0.settings.seed)" }.joined(separator: ",")
            let dense = meanStd(runs.map(\.denseTestAccuracy))
            s += String(format: "| %@ | %@ | 0 (input) | %.2f ± %.2f %% | | | | |\n", key, seeds, 100 * dense.mean, 100 * dense.std)
            let stages = runs.map(\.stages.count).min() ?? 0
            for i in 0..<stages {
                let test = meanStd(runs.map { $0.stages[i].testAccuracy })
                let val = meanStd(runs.map { $0.stages[i].validationAccuracy })
                let epochs = meanStd(runs.map { r in r.stages[0...i].reduce(0) { $0 + $1.epochs - diagnosticEpochs(r, $1) } })
                let secs = meanStd(runs.filter { !$0.settings.fullEvaluation }.map { $0.stages[i].selectionSeconds + $0.stages[i].retrainSeconds })
                var paired = ""
                let diffs = runs.compactMap { r -> Double? in
                    guard let m = magnitude.first(where: { $0.settings.seed == r.settings.seed && $0.stages.count > i }) else { return nil }
                    return r.stages[i].testAccuracy - m.stages[i].testAccuracy
                }
                if !diffs.isEmpty && !key.hasPrefix("magnitude") {
                    let d = meanStd(diffs)
                    paired = String(format: "%+.2f ± %.2f (%d)", 100 * d.mean, 100 * d.std, diffs.count)
                }
                s += String(
                    format: "| | | %.4f | %.2f ± %.2f %% | %@ | %.2f ± %.2f %% | %.2f | %.0f ± %.0f |\n",
                    runs[0].stages[i].sparsity, 100 * test.mean, 100 * test.std, paired, 100 * val.mean, 100 * val.std,
                    epochs.mean, secs.mean, secs.std)
            }
        }
        let correlations = reports.filter(\.settings.fullEvaluation)
        if !correlations.isEmpty {
            s += "\nEarly vs full evaluation (Spearman ρ over the candidates of each stage):\n\n"
            s += "| run | stage | sparsity | early scores | full scores | ρ_s |\n|---|---|---|---|---|---|\n"
            for r in correlations {
                for st in r.stages {
                    s += String(
                        format: "| %@ seed %llu | %d | %.4f | %@ | %@ | %@ |\n", configuration(r), r.settings.seed, st.stage, st.sparsity,
                        st.candidates.map { String(format: "%.3f", $0.earlyScore) }.joined(separator: " "),
                        st.candidates.map { String(format: "%.3f", $0.fullScore ?? .nan) }.joined(separator: " "),
                        st.rankCorrelation.map { String(format: "%.2f", $0) } ?? "–")
                }
            }
        }
        return s
    }
}
