import ArgumentParser
import Foundation
import Reports

/// `equicert report …`: operations on certification reports.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "report",
        abstract: "Operations on certification reports (merge).",
        subcommands: [ReportMergeCommand.self])
}

/// `equicert report merge part1.tsv part2.tsv … -o all.tsv`: merge partial reports by idx.
struct ReportMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "merge",
        abstract: "Merge partial certification reports (shards or ranks of different runs) into one, sorted by idx; refuses overlaps.")

    @Argument(help: "Partial reports (Cohen's TSV).") var parts: [String]
    @Option(name: .shortAndLong, help: "Merged report (written atomically).") var output: String
    @Flag(help: "Keep an idx present in several reports with the same result once (the first), instead of refusing it.")
    var allowDuplicates = false

    func run() throws {
        try runReportingErrors {
            guard !parts.isEmpty else {
                throw ReportsError.invalidOption(name: "parts", value: "", reason: "no report given")
            }
            try ReportWriter.checkWritable(path: output)
            let reports = try parts.map { try CertificationReport.read(path: $0) }
            let rows = try ReportMerge.merge(reports, allowDuplicates: allowDuplicates)
            try CertificationReport.write(rows, to: output)
            let total = reports.reduce(0) { $0 + $1.rows.count }
            print("merged \(rows.count) rows from \(parts.count) reports (\(total - rows.count) duplicates dropped) → \(output)")
        }
    }
}
