import Foundation

/// A certification report file: the header line, then one `CertificationRow` per line, each ending in a newline.
///
/// Reading is strict: the exact header, every row well-formed (see `CertificationRow.init(parsing:)`), no
/// duplicate idx, no blank lines, and a newline after the last row (a missing one means an interrupted write).
/// Errors name the file and the line.
public struct CertificationReport: Sendable, Equatable {
    /// Where the report was read from (or will be written to); used in error messages.
    public var path: String
    /// The rows in file order.
    public var rows: [CertificationRow]

    public init(path: String, rows: [CertificationRow]) {
        self.path = path
        self.rows = rows
    }

    /// Read and parse the report at `path`.
    public static func read(path: String) throws -> CertificationReport {
        CertificationReport(path: path, rows: try parse(try readText(path: path), path: path))
    }

    /// Parse report text (header + rows, newline-terminated). `path` names the source in errors.
    public static func parse(_ text: String, path: String) throws -> [CertificationRow] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        // A complete file ends in "\n", so its last split element is empty.
        if lines.last == "" {
            lines.removeLast()
        } else if !lines.isEmpty {
            throw ReportsError.truncatedLastLine(path: path, line: lines.count)
        }
        guard let header = lines.first else { throw ReportsError.badHeader(path: path, found: "") }
        guard header == CertificationRow.header else {
            throw ReportsError.badHeader(path: path, found: String(header))
        }
        var rows: [CertificationRow] = []
        rows.reserveCapacity(lines.count - 1)
        var lineOf: [Int: Int] = [:]
        for (offset, text) in lines.enumerated().dropFirst() {
            let lineNumber = offset + 1
            guard !text.isEmpty else {
                throw ReportsError.malformedRow(path: path, line: lineNumber, reason: "blank line")
            }
            let row = try CertificationRow(parsing: text, path: path, lineNumber: lineNumber)
            if let first = lineOf[row.index] {
                throw ReportsError.duplicateIndex(path: path, index: row.index, firstLine: first, line: lineNumber)
            }
            lineOf[row.index] = lineNumber
            rows.append(row)
        }
        return rows
    }

    /// The file's text: header and one line per row, each newline-terminated.
    public static func render(_ rows: [CertificationRow]) -> String {
        var text = CertificationRow.header + "\n"
        for row in rows { text += row.line + "\n" }
        return text
    }

    /// Write `rows` to `path` atomically (temporary sibling, fsync, rename): on any error an existing file at
    /// `path` is untouched and no partial file is left.
    public static func write(_ rows: [CertificationRow], to path: String) throws {
        try AtomicFile.write(Data(render(rows).utf8), to: path)
    }

    /// The whole file as UTF-8 text.
    static func readText(path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ReportsError.fileUnreadable(path: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw ReportsError.fileUnreadable(path: path, reason: "is a directory") }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ReportsError.fileUnreadable(path: path, reason: String(cString: strerror(errno)))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ReportsError.fileUnreadable(path: path, reason: "not UTF-8 text")
        }
        return text
    }
}
