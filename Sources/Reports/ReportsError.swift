import Foundation

/// Bad input to the `Reports` module: unreadable, malformed or conflicting certification reports, unwritable
/// output paths, invalid analysis options.
///
/// Every case names the file (and the line where there is one); `description` renders it as one line,
/// suitable for the command line's error message. Programmer errors (an invalid row built in code) are
/// `precondition`s, not cases here.
public enum ReportsError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened or read (missing, a directory, no permission, not UTF-8).
    case fileUnreadable(path: String, reason: String)
    /// The output file cannot be created or written (checked up front, or a failed write, fsync or rename).
    case fileUnwritable(path: String, reason: String)
    /// The first line is not the header `idx\tlabel\tpredict\tradius\tcorrect\ttime`.
    case badHeader(path: String, found: String)
    /// The first line of another kind of report (e.g. a text attack's) is not its header `expected`.
    case wrongHeader(path: String, expected: String, found: String)
    /// A row that does not parse: wrong field count, a non-integer, a radius not in `{:.3}` form, an
    /// inconsistent `correct` flag, a malformed time.
    case malformedRow(path: String, line: Int, reason: String)
    /// The same image index on two lines of one file.
    case duplicateIndex(path: String, index: Int, firstLine: Int, line: Int)
    /// The last line has no newline: a write was interrupted (a resumed writer removes it).
    case truncatedLastLine(path: String, line: Int)
    /// A report without rows where rows are needed (analysis).
    case emptyReport(path: String)
    /// A row appended to a writer whose file already holds that image index.
    case indexAlreadyWritten(path: String, index: Int)
    /// Two reports hold different results for the same image (label, prediction or radius differ).
    case conflictingRows(index: Int, path: String, row: String, otherPath: String, otherRow: String)
    /// Two reports hold the same result for the same image (refused unless duplicates are allowed).
    case duplicateRows(index: Int, path: String, otherPath: String)
    /// A command-line option with an invalid value.
    case invalidOption(name: String, value: String, reason: String)
    /// The SVG-to-PNG converter failed.
    case conversionFailed(tool: String, path: String, reason: String)

    public var description: String {
        switch self {
        case let .fileUnreadable(path, reason):
            return "\(path): cannot read report: \(reason)"
        case let .fileUnwritable(path, reason):
            return "\(path): cannot write: \(reason)"
        case let .badHeader(path, found):
            return "\(path):1: expected the header 'idx\\tlabel\\tpredict\\tradius\\tcorrect\\ttime', found '\(Self.visible(found))'"
        case let .wrongHeader(path, expected, found):
            return "\(path):1: expected the header '\(Self.visible(expected))', found '\(Self.visible(found))'"
        case let .malformedRow(path, line, reason):
            return "\(path):\(line): malformed row: \(reason)"
        case let .duplicateIndex(path, index, firstLine, line):
            return "\(path):\(line): duplicate idx \(index) (first on line \(firstLine))"
        case let .truncatedLastLine(path, line):
            return "\(path):\(line): last line has no newline (an interrupted write); resuming the run removes it"
        case let .emptyReport(path):
            return "\(path): report has no rows"
        case let .indexAlreadyWritten(path, index):
            return "\(path): idx \(index) is already in the report"
        case let .conflictingRows(index, path, row, otherPath, otherRow):
            return "idx \(index): conflicting rows in \(path) ('\(Self.visible(row))') and \(otherPath) ('\(Self.visible(otherRow))')"
        case let .duplicateRows(index, path, otherPath):
            return "idx \(index): present in both \(path) and \(otherPath) (same result; pass --allow-duplicates to keep it once)"
        case let .invalidOption(name, value, reason):
            return "--\(name) '\(value)': \(reason)"
        case let .conversionFailed(tool, path, reason):
            return "\(path): \(tool) failed: \(reason)"
        }
    }

    /// Tabs shown as `\t` so a row fits on one readable line.
    static func visible(_ s: String) -> String {
        let shown = s.replacingOccurrences(of: "\t", with: "\\t")
        return shown.count > 120 ? String(shown.prefix(120)) + "…" : shown
    }
}
