import ArgumentParser
import Certification
import Coordinator
import Foundation
import Reports

/// `equicert analyze a.tsv b.tsv …`: certified accuracy at radii, ACR, abstention rate, time per image and
/// speedup as a Markdown table; `--plot` draws certified accuracy against radius (SVG, and PNG when a converter
/// is installed).
struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Certified accuracy at radii, ACR, abstentions, time and speedup of certification reports (Markdown), and their curves.")

    @Argument(help: "Certification reports (Cohen's TSV).") var reports: [String]
    @Option(help: "Radii at which to report certified accuracy, comma-separated.") var radii: String = "0,0.25,0.5,0.75,1.0"
    @Option(help: "Report whose mean time per image is the speedup baseline (one of the reports or another file).")
    var baseline: String?
    @Option(help: "Draw certified accuracy against radius to this SVG file (and a PNG beside it when rsvg-convert or ImageMagick is installed).")
    var plot: String?
    @Option(help: "Names for the table and legend, comma-separated, one per report (default: file names).")
    var names: String?
    @Flag(help: "Only the images every report has (compares runs still in progress fairly).") var common = false
    @Option(
        help: ArgumentHelp(
            "An independent standard run of the same base classifier: count, per report, the images whose radius exceeds what its counts allow (srs.md §7's over-claim check).",
            valueName: "report.tsv"))
    var overClaimReference: String?

    func run() throws {
        try runReportingErrors {
            let radiusList = try ReportAnalysis.parseRadii(radii)
            let nameList = names.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            if let plot {
                // A plot is a view redrawn from the reports (replaced on every run), but never one of them.
                try OutputGuard.check(
                    outputs: [plot, beside(plot, dropping: ".svg", adding: ".png")], inputs: reports + [baseline].compactMap { $0 },
                    existing: .replace)
                try ReportWriter.checkWritable(path: plot)
            }
            var (summaries, read) = try ReportAnalysis.analyze(
                paths: reports, names: nameList, radii: radiusList,
                baseline: baseline, commonImagesOnly: common)
            // f-evaluations per image from the manifests beside the reports (absent or unreadable: no column value),
            // and what each report's radius is about.
            var about: [String] = []
            for (i, report) in read.enumerated() {
                guard let m = try? RunManifest.readWithLog(forReport: report.path) else { continue }
                let c = m.configuration
                let stages = c.radius == .audit ? " K = " + c.auditStages.map(String.init).joined(separator: "→") : ""
                var bias = ""
                if let name = m.records {
                    let path =
                        name.hasPrefix("/") ? name : URL(fileURLWithPath: report.path).deletingLastPathComponent().appendingPathComponent(name).path
                    if let b = try? SerializedBias.measure(recordsPath: path) {
                        bias = String(
                            format:
                                "; serialized minus base rate of ĉA on the audited inputs: %+.2f points (%d images), %+.2f on the %d with N_A/N < 0.99",
                            b.meanPoints, b.images, b.contestedMeanPoints, b.contestedImages)
                    }
                }
                about.append(
                    "- \(summaries[i].name): \(c.mode.rawValue) smoothing, radius \(c.radius.rawValue)\(stages)"
                        + (c.radius.isSound ? "" : " (not proven under chain dependence)")
                        + ", σ = \(c.sigma), n = \(c.n), α = \(c.alpha); certifies \(c.baseClassifierDescription)" + bias)
                let cost = Dictionary(m.images.map { ($0.index, $0.sampleEvaluations) }, uniquingKeysWith: { _, b in b })
                let known = report.rows.compactMap { cost[$0.index] }
                if known.count == report.rows.count {
                    summaries[i].evaluationsPerImage = Double(known.reduce(0, +)) / Double(known.count)
                }
            }
            print(ReportAnalysis.markdownTable(summaries), terminator: "")
            if !about.isEmpty { print("\n" + about.joined(separator: "\n")) }
            if let reference = overClaimReference {
                let m = try RunManifest.readWithLog(forReport: reference)
                print("\nOver-claims against \(reference) (radius above σ·Φ⁻¹(CP_upper) of its counts, α = \(m.configuration.alpha)):")
                let referencePath = URL(fileURLWithPath: reference).standardizedFileURL.path
                for (s, report) in zip(summaries, read) where URL(fileURLWithPath: report.path).standardizedFileURL.path != referencePath {
                    // Only a report about the same base classifier can over-claim against it.
                    if let other = try? RunManifest.readWithLog(forReport: report.path),
                        other.configuration.baseClassifier != m.configuration.baseClassifier
                    {
                        print("- \(s.name): certifies another base classifier (\(other.configuration.baseClassifierDescription)): not compared")
                        continue
                    }
                    let r = try OverClaimCheck.check(rows: report.rows, reference: m, referencePath: reference)
                    print(
                        "- \(s.name): \(r.overClaims.count) of \(r.compared) certified images"
                            + (r.overClaims.isEmpty ? "" : " (images " + r.overClaims.map(String.init).joined(separator: ", ") + ")"))
                }
            }
            guard let plot else { return }
            let chart = CertifiedAccuracyPlot(
                series: zip(summaries, read).map { CertifiedAccuracyPlot.Series(name: $0.name, rows: $1.rows) },
                minimumRadius: max(radiusList.max() ?? 1, 0.25))
            try chart.writeSVG(to: plot)
            print("\nplot: \(plot)")
            let png = URL(fileURLWithPath: plot).deletingPathExtension().path + ".png"
            if let converter = SVGConverter.find() {
                // The PNG is an extra: a failing converter is reported, the table and the SVG stand.
                do {
                    try converter.convert(svg: plot, png: png)
                    print("plot: \(png) (rendered with \(converter.name))")
                } catch {
                    print("plot: no PNG written (\(error))")
                }
            } else {
                print("plot: no PNG written (no SVG converter found in PATH: install librsvg2-bin for rsvg-convert, or ImageMagick)")
            }
        }
    }
}
