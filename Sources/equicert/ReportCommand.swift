import ArgumentParser
import Certification
import Coordinator
import Distillation
import Foundation
import Reports

/// `equicert report …`: operations on certification reports.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Operations on reports (merge, radius; pruning summary; text-attack comparison; a distilled set's image grid).",
        subcommands: [
            ReportMergeCommand.self, ReportRadiusCommand.self, ReportPruningCommand.self, ReportAttacksCommand.self, ReportGridCommand.self,
        ])
}

/// `equicert report merge part1.tsv part2.tsv … -o all.tsv`: merge partial reports by idx.
struct ReportMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge partial certification reports (shards or ranks of different runs) into one, sorted by idx; refuses overlaps.")

    @Argument(help: "Partial reports (Cohen's TSV).") var parts: [String]
    @Option(name: .shortAndLong, help: "Merged report (written atomically).") var output: String
    @Flag(help: "Keep an idx present in several reports with the same result once (the first), instead of refusing it.")
    var allowDuplicates = false
    @Flag(help: "Replace an existing output file.") var force = false

    func run() throws {
        try runReportingErrors {
            guard !parts.isEmpty else {
                throw ReportsError.invalidOption(name: "parts", value: "", reason: "no report given")
            }
            try OutputGuard.check(outputs: [output], inputs: parts, existing: force ? .replace : .refuse, resumeFlag: nil)
            try ReportWriter.checkWritable(path: output)
            try RunIdentity.checkMergeable(parts: parts)
            let reports = try parts.map { try CertificationReport.read(path: $0) }
            let rows = try ReportMerge.merge(reports, allowDuplicates: allowDuplicates)
            try CertificationReport.write(rows, to: output)
            let total = reports.reduce(0) { $0 + $1.rows.count }
            print("merged \(rows.count) rows from \(parts.count) reports (\(total - rows.count) duplicates dropped) → \(output)")
        }
    }
}

/// `equicert report radius run.tsv --radius paper -o run.paper.tsv`: the same run's radii with another SRS estimator,
/// α or a prefix of its audit stages, from the counts in its manifest and the per-image records (no re-run).
struct ReportRadiusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "radius",
        abstract: "Recompute a finished run's radii with another radius estimator, α or audit stages, from what the run kept.")

    @Argument(help: "A certification report (its manifest must be beside it).") var report: String
    @Option(help: "SRS radius estimator: audit, paper or reference-code (default: the run's).") var radius: RadiusEstimator?
    @Option(help: "Failure probability α (default: the run's).") var alpha: Double?
    @Option(
        help: ArgumentHelp(
            "SRS: use only these audit stages, a prefix of the run's (e.g. 400 from a 400,2000 run); their cost is what the rows and manifest report.",
            valueName: "K1,…"))
    var audit: String?
    @Option(name: .shortAndLong, help: "Output report (.tsv, written atomically; its manifest goes beside it).") var output: String
    @Flag(help: "Replace an existing output report and its manifest.") var force = false

    func run() throws {
        try runReportingErrors {
            let estimator = radius
            let stages = try audit.map { text in
                try text.split(separator: ",", omittingEmptySubsequences: false).map { part -> Int in
                    guard let k = Int(part.trimmingCharacters(in: .whitespaces)), k >= 1 else {
                        throw CoordinatorError.invalidOption(name: "audit", value: text, reason: "expected stage sizes such as 400,2000")
                    }
                    return k
                }
            }
            var inputs = [
                report, RunManifest.path(forReport: report), ImageCostLog.path(forReport: report),
                StoredRecord.path(forReport: report),
            ]
            if let records = try? RunManifest.read(RunManifest.path(forReport: report)).records {
                inputs.append(
                    records.hasPrefix("/")
                        ? records
                        : URL(fileURLWithPath: report).deletingLastPathComponent().appendingPathComponent(records).path)
            }
            try OutputGuard.check(
                outputs: [output, RunManifest.path(forReport: output)], inputs: inputs,
                existing: force ? .replace : .refuse, resumeFlag: nil)
            try ReportWriter.checkWritable(path: output)
            let rows = try CertificationReport.read(path: report)
            let manifest = try RunManifest.readWithLog(forReport: report)
            var (recomputed, outManifest) = try RadiusRecomputation.recompute(
                report: rows, manifest: manifest, reportPath: report,
                estimator: estimator, alpha: alpha, auditStages: stages)
            outManifest.command = commandLine() + " (recomputed from: " + manifest.command + ")"
            // The output names the input's records (the same samples): relative when beside it, else absolute.
            if let records = manifest.records, !records.hasPrefix("/") {
                let input = URL(fileURLWithPath: report).deletingLastPathComponent().standardized
                let out = URL(fileURLWithPath: output).deletingLastPathComponent().standardized
                outManifest.records = input == out ? records : input.appendingPathComponent(records).path
            }
            try CertificationReport.write(recomputed, to: output)
            try outManifest.write(to: RunManifest.path(forReport: output))
            print("\(recomputed.count) rows, radius \(outManifest.radiusEstimator), α = \(outManifest.configuration.alpha) → \(output)")
        }
    }
}

/// `equicert report pruning results/*.pruning.json`: accuracy against sparsity per method over seeds (Markdown).
struct ReportPruningCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pruning",
        abstract: "Summarise pruning reports: accuracy against sparsity per method, mean ± std over seeds, paired Δ to magnitude IMP.")
    @Argument(help: "Pruning reports (.pruning.json written by `equicert prune`).") var reports: [String]
    func run() throws {
        try runReportingErrors {
            guard !reports.isEmpty else { throw CoordinatorError.invalidOption(name: "reports", value: "", reason: "no report given") }
            print(PruningSummary.markdown(try PruningSummary.read(reports)), terminator: "")
        }
    }
}

/// `equicert report attacks vanilla.tsv mcp.tsv …`: text-attack reports on the same texts compared with the first (paired
/// exact McNemar tests), or `--examples N`: each report's first N successful adversarial examples (Markdown).
struct ReportAttacksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attacks",
        abstract:
            "Compare text-attack reports (from `equicert attack`) on the same texts against the first: accuracy under attack, paired exact McNemar tests (Markdown).",
        discussion:
            "Only the attention rule may differ: other texts, data, part, attack, constraints or model are refused. With --examples N, print instead each report's first N successful adversarial examples in idx order."
    )

    @Argument(help: "Text-attack reports (.tsv, with the .json manifest and .examples.jsonl beside each); the first is the baseline.")
    var reports: [String]
    @Option(help: ArgumentHelp("Print the first N successful adversarial examples of each report instead of the comparison.", valueName: "N"))
    var examples: Int?
    @Option(name: .shortAndLong, help: "Write the Markdown to this file (atomically) instead of standard output.") var output: String?
    @Flag(help: "Replace an existing output file.") var force = false

    func run() throws {
        try runReportingErrors {
            guard !reports.isEmpty else { throw CoordinatorError.invalidOption(name: "reports", value: "", reason: "no report given") }
            if let n = examples, n < 1 { throw CoordinatorError.invalidOption(name: "examples", value: "\(n)", reason: "must be ≥ 1") }
            let inputs = reports.flatMap { AttackJob.TextOutputs(report: $0).all }
            try guardOutputs([output], inputs: inputs, force: force)
            let read = try reports.map { try AttackReport.read(path: $0) }
            let markdown: String
            if let n = examples {
                markdown = try read.map { AttackExamples.markdown($0, records: try $0.examples(), count: n) }.joined(separator: "\n")
            } else {
                markdown = try AttackComparison(read).markdown()
            }
            if let output {
                try AtomicFile.write(Data(markdown.utf8), to: output)
                print("\(reports.count) report\(reports.count == 1 ? "" : "s") → \(output)")
            } else {
                print(markdown, terminator: "")
            }
        }
    }
}

/// `equicert report grid set.safetensors -o set.png --scale 4`: (re-)draw a distilled set's PNG grid — one row per
/// class, the set's images as columns — at another scale or width than `distill` wrote it, without regenerating.
struct ReportGridCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grid",
        abstract: "Draw a distilled set (from `equicert distill`) as a PNG grid: one row per class.")
    @Argument(help: "Distilled set (.safetensors).") var distilled: String
    @Option(name: .shortAndLong, help: "PNG path (written atomically).") var output: String
    @Option(help: "Pixel scale (nearest neighbour).") var scale: Int = 2
    @Option(help: "Gray padding between tiles, in pixels.") var padding: Int = 1
    @Option(help: "Columns before a class wraps onto another row.") var maxColumns: Int = 50
    @Flag(help: "Replace an existing PNG.") var force = false

    func run() throws {
        try runReportingErrors {
            for (name, value, low) in [("scale", scale, 1), ("padding", padding, 0), ("max-columns", maxColumns, 1)]
            where value < low {
                throw CoordinatorError.invalidOption(name: name, value: String(value), reason: "must be ≥ \(low)")
            }
            try guardOutputs([output], inputs: [distilled], force: force)
            let set = try DistilledSet.load(from: URL(fileURLWithPath: distilled))
            try set.writePNGGrid(to: URL(fileURLWithPath: output), padding: padding, scale: scale, maxColumns: maxColumns)
            print("\(distilled): \(set.method) IPC \(set.ipc) on \(set.datasetName), \(set.count) images → \(output)")
        }
    }
}
