import Foundation

/// Appends certification rows to a report file as each image finishes.
///
/// Guarantees (from `AppendOnlyLineFile`): each row reaches the real file (no `.partial` copy) with one write of the
/// whole line, then `fsync` (when `synchronize`), so readers see rows as they finish and a crash leaves only complete
/// rows. A failed write is cut back to the last complete row. Opening for `.resume` removes a truncated last line
/// (no newline) left by an interrupted write and keeps the complete rows. The header is written on creation.
/// Thread-safe: appends from several threads are serialised.
public final class ReportWriter: @unchecked Sendable {
    /// How to treat an existing file at the path (`.replace`, `.createNew`, `.resume`).
    public typealias Mode = AppendOnlyLineFile.Mode

    /// The report's path.
    public let path: String
    private let lock = NSLock()
    private let file: AppendOnlyLineFile
    private var written: [CertificationRow]
    private var indices: Set<Int>
    /// The truncated last line removed when resuming (nil if the file ended cleanly).
    public var removedPartialLine: String? { file.removedPartialLine }

    /// Open `path` in `mode`. Throws `ReportsError.fileUnwritable` for an unwritable path (checked before
    /// anything is created), and the reading errors of `CertificationReport` when resuming a malformed file.
    public init(path: String, mode: Mode, synchronize: Bool = true) throws {
        self.path = path
        try Self.checkWritable(path: path)
        var existing: [CertificationRow] = []
        let file = try AppendOnlyLineFile(path: path, mode: mode, synchronize: synchronize) { kept in
            if !kept.isEmpty { existing = try CertificationReport.parse(kept, path: path) }
        }
        if file.size == 0 { try file.append(line: CertificationRow.header) }
        self.file = file
        self.written = existing
        self.indices = Set(existing.map(\.index))
    }

    /// All rows in the file, as a reader of it sees them (radius rounded): those kept on resume, then those appended.
    public var rows: [CertificationRow] { lock.withLock { written } }

    /// The image indices already in the file (skip these when resuming).
    public var completedIndices: Set<Int> { lock.withLock { indices } }

    /// Append one row: a single write of the line and its newline, then `fsync`. Throws
    /// `ReportsError.indexAlreadyWritten` if the file already holds the row's idx, `fileUnwritable` if the write
    /// fails (the file is then cut back to its last complete row).
    public func append(_ row: CertificationRow) throws {
        try lock.withLock {
            guard !indices.contains(row.index) else {
                throw ReportsError.indexAlreadyWritten(path: path, index: row.index)
            }
            try file.append(line: row.line)
            var asRead = row  // as a reader of the file sees it: radius rounded to 3 significant digits
            asRead.radius = Double(row.radiusText)!
            written.append(asRead)
            indices.insert(row.index)
        }
    }

    /// Close the file (further appends are programmer errors). Closing twice is harmless.
    public func close() { lock.withLock { file.close() } }

    /// Check, without creating anything, that a report can be written at `path`: its directory exists and is
    /// writable, and `path` is not a directory nor a read-only file. Throws `ReportsError.fileUnwritable`.
    public static func checkWritable(path: String) throws {
        guard !path.isEmpty else { throw ReportsError.fileUnwritable(path: path, reason: "empty path") }
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard !isDirectory.boolValue else { throw ReportsError.fileUnwritable(path: path, reason: "is a directory") }
            guard access(path, W_OK) == 0 else {
                throw ReportsError.fileUnwritable(path: path, reason: String(cString: strerror(errno)))
            }
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard fm.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ReportsError.fileUnwritable(path: path, reason: "directory \(directory) does not exist")
        }
        guard access(directory, W_OK | X_OK) == 0 else {
            throw ReportsError.fileUnwritable(path: path, reason: "directory \(directory) is not writable")
        }
    }
}
