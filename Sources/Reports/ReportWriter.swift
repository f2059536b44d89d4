import Foundation

/// Appends certification rows to a report file as each image finishes.
///
/// Guarantees: each row reaches the real file (no `.partial` copy) with one `write(2)` of the whole line, then
/// `fsync` (when `synchronize`), so readers see rows as they finish and a crash leaves only complete rows.
/// A failed write is cut back to the last complete row. Opening for `.resume` removes a truncated last line
/// (no newline) left by an interrupted write and keeps the complete rows. The header is written on creation.
/// Thread-safe: appends from several threads are serialised.
public final class ReportWriter: @unchecked Sendable {
    /// How to treat an existing file at the path.
    public enum Mode: Sendable, Equatable {
        /// Start a new report, replacing any existing file.
        case replace
        /// Start a new report; refuse if a file already exists.
        case createNew
        /// Continue an existing report (keeping its complete rows), or start one if there is none.
        case resume
    }

    /// The report's path.
    public let path: String
    private let synchronize: Bool
    private let lock = NSLock()
    private var fd: Int32
    private var size: off_t
    private var written: [CertificationRow]
    private var indices: Set<Int>
    /// The truncated last line removed when resuming (nil if the file ended cleanly).
    public let removedPartialLine: String?

    /// Open `path` in `mode`. Throws `ReportsError.fileUnwritable` for an unwritable path (checked before
    /// anything is created), and the reading errors of `CertificationReport` when resuming a malformed file.
    public init(path: String, mode: Mode, synchronize: Bool = true) throws {
        self.path = path
        self.synchronize = synchronize
        try Self.checkWritable(path: path)
        var existing: [CertificationRow] = []
        var removed: String?
        var keepBytes: off_t = 0
        let exists = FileManager.default.fileExists(atPath: path)
        if mode == .createNew && exists {
            throw ReportsError.fileUnwritable(path: path, reason: "file exists")
        }
        if mode == .resume && exists {
            let text = try CertificationReport.readText(path: path)
            var complete = Substring(text)
            if !text.isEmpty && !text.hasSuffix("\n") {
                let cut = text.lastIndex(of: "\n").map { text.index(after: $0) } ?? text.startIndex
                removed = String(text[cut...])
                complete = text[..<cut]
            }
            if !complete.isEmpty {
                existing = try CertificationReport.parse(String(complete), path: path)
                keepBytes = off_t(complete.utf8.count)
            }
        }
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (mode == .resume ? 0 : O_TRUNC) | (mode == .createNew ? O_EXCL : 0)
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else { throw ReportsError.fileUnwritable(path: path, reason: String(cString: strerror(errno))) }
        self.fd = fd
        self.size = keepBytes
        self.written = existing
        self.indices = Set(existing.map(\.index))
        self.removedPartialLine = removed
        do {
            // Cut a truncated last line (resume) and position at the end of the complete rows.
            guard ftruncate(fd, keepBytes) == 0, lseek(fd, keepBytes, SEEK_SET) == keepBytes else {
                throw ReportsError.fileUnwritable(path: path, reason: "cannot truncate: \(String(cString: strerror(errno)))")
            }
            if keepBytes == 0 { try appendLine(CertificationRow.header) }
        } catch {
            Foundation.close(fd)
            self.fd = -1
            throw error
        }
    }

    deinit { if fd >= 0 { Foundation.close(fd) } }

    /// All rows in the file, as a reader of it sees them (radius rounded): those kept on resume, then those appended.
    public var rows: [CertificationRow] { lock.withLock { written } }

    /// The image indices already in the file (skip these when resuming).
    public var completedIndices: Set<Int> { lock.withLock { indices } }

    /// Append one row: a single `write(2)` of the line and its newline, then `fsync`. Throws
    /// `ReportsError.indexAlreadyWritten` if the file already holds the row's idx, `fileUnwritable` if the write
    /// fails (the file is then cut back to its last complete row).
    public func append(_ row: CertificationRow) throws {
        try lock.withLock {
            precondition(fd >= 0, "ReportWriter used after close()")
            guard !indices.contains(row.index) else {
                throw ReportsError.indexAlreadyWritten(path: path, index: row.index)
            }
            try appendLine(row.line)
            var asRead = row  // as a reader of the file sees it: radius rounded to 3 significant digits
            asRead.radius = Double(row.radiusText)!
            written.append(asRead)
            indices.insert(row.index)
        }
    }

    /// Close the file (further appends are programmer errors). Closing twice is harmless.
    public func close() {
        lock.withLock {
            if fd >= 0 { Foundation.close(fd) }
            fd = -1
        }
    }

    private func appendLine(_ line: String) throws {
        let bytes = Array((line + "\n").utf8)
        do {
            try bytes.withUnsafeBytes { raw in
                try AtomicFile.writeAll(fd: fd, raw) {
                    .fileUnwritable(path: path, reason: "write failed: \(String(cString: strerror(errno)))")
                }
            }
            if synchronize, fsync(fd) != 0 {
                throw ReportsError.fileUnwritable(path: path, reason: "fsync failed: \(String(cString: strerror(errno)))")
            }
        } catch {
            // Never leave half a line: cut back to the last complete row.
            _ = ftruncate(fd, size)
            _ = lseek(fd, size, SEEK_SET)
            throw error
        }
        size += off_t(bytes.count)
    }

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
