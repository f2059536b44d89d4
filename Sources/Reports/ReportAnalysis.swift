import Foundation

/// The numbers `equicert analyze` prints for one report, computed from the rows as read from the file (radii
/// rounded to 3 significant digits, as Cohen's analysis reads them).
///
/// With N rows: certified accuracy at r = #{rows : correct ∧ radius ≥ r} / N; ACR = Σ radius·correct / N;
/// abstention rate = #{predict = −1} / N; mean time = Σ time / N; speedup = baseline mean time / mean time.
public struct ReportSummary: Sendable, Equatable {
    /// Name shown in the table and the plot legend.
    public var name: String
    /// N, the number of rows.
    public var rowCount: Int
    /// The radii r at which certified accuracy is reported.
    public var radii: [Double]
    /// Certified accuracy at each of `radii`, in [0, 1].
    public var certifiedAccuracy: [Double]
    /// Average certified radius (abstentions and wrong predictions count as 0).
    public var averageCertifiedRadius: Double
    /// Fraction of rows with predict = −1.
    public var abstentionRate: Double
    /// Mean wall time per image in seconds.
    public var meanSeconds: Double
    /// Baseline mean time / this mean time (nil without a baseline, or when this mean time is 0).
    public var speedup: Double?
    /// Mean f-evaluations per image (sample·evaluations, all phases) from the run's manifest, when known.
    public var evaluationsPerImage: Double?

    /// Summarise non-empty `rows` (precondition). `baselineMeanSeconds` sets `speedup`.
    public init(name: String, rows: [CertificationRow], radii: [Double], baselineMeanSeconds: Double? = nil) {
        precondition(!rows.isEmpty, "a summary needs at least one row")
        let n = Double(rows.count)
        self.name = name
        self.rowCount = rows.count
        self.radii = radii
        self.certifiedAccuracy = radii.map { ReportAnalysis.certifiedAccuracy(rows, atRadius: $0) }
        self.averageCertifiedRadius = rows.reduce(0) { $0 + ($1.correct ? $1.radius : 0) } / n
        self.abstentionRate = Double(rows.count(where: \.isAbstention)) / n
        self.meanSeconds = Double(rows.reduce(Int64(0)) { $0 + $1.microseconds }) / 1e6 / n
        if let b = baselineMeanSeconds, meanSeconds > 0 { speedup = b / meanSeconds } else { speedup = nil }
    }
}

/// Certified-accuracy analysis of reports: the curve, the summary table, and the inputs of `equicert analyze`.
public enum ReportAnalysis {
    /// The radii `equicert analyze` reports by default.
    public static let defaultRadii: [Double] = [0, 0.25, 0.5, 0.75, 1.0]

    /// #{rows : correct ∧ radius ≥ r} / N (0 for no rows).
    public static func certifiedAccuracy(_ rows: [CertificationRow], atRadius r: Double) -> Double {
        guard !rows.isEmpty else { return 0 }
        return Double(rows.count { $0.correct && $0.radius >= r }) / Double(rows.count)
    }

    /// The certified-accuracy curve as steps: for each distinct radius ρ of a correct row (ascending), the
    /// accuracy that holds on the interval ending at ρ (inclusive). acc(r) = the `accuracy` of the first step
    /// with `radius` ≥ r, and 0 beyond the last step.
    public static func steps(_ rows: [CertificationRow]) -> [(radius: Double, accuracy: Double)] {
        guard !rows.isEmpty else { return [] }
        let radii = rows.filter(\.correct).map(\.radius).sorted()
        let n = Double(rows.count)
        var out: [(radius: Double, accuracy: Double)] = []
        var i = 0
        while i < radii.count {
            let r = radii[i]
            out.append((r, Double(radii.count - i) / n))
            while i < radii.count && radii[i] == r { i += 1 }
        }
        return out
    }

    /// Parse a comma-separated radius list ("0,0.25,0.5"): finite numbers ≥ 0, at least one.
    public static func parseRadii(_ text: String) throws -> [Double] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        var radii: [Double] = []
        for p in parts {
            guard let r = Double(p), r.isFinite, r >= 0 else {
                throw ReportsError.invalidOption(name: "radii", value: text, reason: "'\(p)' is not a finite number ≥ 0")
            }
            radii.append(r)
        }
        return radii
    }

    /// Read the reports at `paths` and summarise them. `names` (same count, or nil for the file names without
    /// extension) label them; `baseline` (one of `paths` or another report) sets the speedup column.
    /// Throws the reading errors, `emptyReport` for a report without rows, `invalidOption` for a names count mismatch.
    /// With `commonImagesOnly`, every report (and the baseline) is restricted to the image indices all of them
    /// have — the fair comparison of runs still in progress.
    public static func analyze(
        paths: [String], names: [String]? = nil, radii: [Double] = defaultRadii,
        baseline: String? = nil, commonImagesOnly: Bool = false
    ) throws -> (summaries: [ReportSummary], reports: [CertificationReport]) {
        guard !paths.isEmpty else { throw ReportsError.invalidOption(name: "reports", value: "", reason: "no report given") }
        guard !radii.isEmpty else { throw ReportsError.invalidOption(name: "radii", value: "", reason: "no radius given") }
        if let names, names.count != paths.count {
            throw ReportsError.invalidOption(
                name: "names", value: names.joined(separator: ","),
                reason: "\(names.count) names for \(paths.count) reports")
        }
        var reports = try paths.map { try CertificationReport.read(path: $0) }
        for r in reports where r.rows.isEmpty { throw ReportsError.emptyReport(path: r.path) }
        var common: Set<Int>? = nil
        if commonImagesOnly {
            let all = try reports + (baseline.map { [try CertificationReport.read(path: $0)] } ?? [])
            let shared = all.dropFirst().reduce(Set(all[0].rows.map(\.index))) { $0.intersection($1.rows.map(\.index)) }
            guard !shared.isEmpty else {
                throw ReportsError.invalidOption(name: "common", value: "", reason: "the reports have no image in common")
            }
            common = shared
            reports = reports.map { CertificationReport(path: $0.path, rows: $0.rows.filter { shared.contains($0.index) }) }
        }
        var baselineMean: Double?
        if let baseline {
            let canonical = URL(fileURLWithPath: baseline).standardizedFileURL.path
            var report =
                try reports.first { URL(fileURLWithPath: $0.path).standardizedFileURL.path == canonical }
                ?? CertificationReport.read(path: baseline)
            if let common { report = CertificationReport(path: report.path, rows: report.rows.filter { common.contains($0.index) }) }
            guard !report.rows.isEmpty else { throw ReportsError.emptyReport(path: baseline) }
            baselineMean = ReportSummary(name: "", rows: report.rows, radii: []).meanSeconds
        }
        let labels = names ?? paths.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent }
        let summaries = zip(labels, reports).map {
            ReportSummary(name: $0, rows: $1.rows, radii: radii, baselineMeanSeconds: baselineMean)
        }
        return (summaries, reports)
    }

    /// A Markdown table: one line per report with N, certified accuracy at each radius (3 decimals), ACR,
    /// abstention rate, mean time per image, speedup and f-evaluations per image (when known).
    public static func markdownTable(_ summaries: [ReportSummary]) -> String {
        guard let radii = summaries.first?.radii else { return "" }
        precondition(summaries.allSatisfy { $0.radii == radii }, "all summaries must use the same radii")
        let showSpeedup = summaries.contains { $0.speedup != nil }
        var header = ["report", "N"] + radii.map { "r = \(PythonFormat.general($0, precision: 6))" }
        let showEvaluations = summaries.contains { $0.evaluationsPerImage != nil }
        header += ["ACR", "abstain", "time/image"]
        if showSpeedup { header.append("speedup") }
        if showEvaluations { header.append("f-evals/image") }
        var lines = [
            "| " + header.joined(separator: " | ") + " |",
            "|" + header.enumerated().map { $0.offset == 0 ? "---|" : "---:|" }.joined(),
        ]
        for s in summaries {
            var cells = [s.name.replacingOccurrences(of: "|", with: "\\|"), "\(s.rowCount)"]
            cells += s.certifiedAccuracy.map { String(format: "%.3f", $0) }
            cells += [
                String(format: "%.3f", s.averageCertifiedRadius),
                String(format: "%.1f%%", 100 * s.abstentionRate),
                String(format: "%.3f s", s.meanSeconds),
            ]
            if showSpeedup { cells.append(s.speedup.map { String(format: "%.2f×", $0) } ?? "–") }
            if showEvaluations { cells.append(s.evaluationsPerImage.map { String(format: "%.0f", $0) } ?? "–") }
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
