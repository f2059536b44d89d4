import Foundation

/// A file of newline-terminated records appended one at a time, written in place (no `.partial` copy) so readers
/// see each record as soon as it is complete, and crash-safe: a crash or a failed write never leaves more than a
/// truncated last line, and that line is cut off when the file is reopened.
///
/// - Each `append(line:)` is one `write(2)` loop of the whole line and its newline, then `fsync` (when `synchronize`);
///   a failed write is cut back to the last complete line.
/// - Opening with `.resume` keeps the complete lines (`keptText`), removes a truncated last line (`removedPartialLine`)
///   and positions at the end; `.replace` truncates; `.createNew` refuses an existing file.
/// - Not thread-safe: owners serialise appends (ReportWriter does under its lock).
///
/// Used by the certification report (`ReportWriter`, TSV rows) and the per-image cost log (`ImageCostLog`, JSON lines).
public final class AppendOnlyLineFile {
    public enum Mode: Sendable, Equatable {
        /// Start a new file, replacing any existing one.
        case replace
        /// Start a new file; refuse if one already exists.
        case createNew
        /// Continue an existing file (keeping its complete lines), or start one if there is none.
        case resume
    }

    public let path: String
    /// With `.resume`: the complete lines found (each with its newline), as UTF-8 text; empty otherwise.
    public let keptText: String
    /// With `.resume`: the truncated last line that was cut off (nil if the file ended with a newline).
    public let removedPartialLine: String?
    /// Bytes in the file (all complete lines).
    public private(set) var size: off_t
    private let synchronize: Bool
    private var fd: Int32

    /// Opens `path`. Errors are `ReportsError.fileUnwritable` (cannot open / truncate, or exists with `.createNew`)
    /// and `ReportsError.fileUnreadable` (with `.resume`: unreadable, or its complete lines are not UTF-8).
    /// With `.resume`, `validate` sees the complete lines before anything is opened for writing: what it throws is
    /// rethrown and the file is left exactly as it was (a file that is not of the owner's format is never cut).
    public init(path: String, mode: Mode, synchronize: Bool = true, validate: (String) throws -> Void = { _ in }) throws {
        self.path = path
        self.synchronize = synchronize
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if exists && isDirectory.boolValue { throw ReportsError.fileUnwritable(path: path, reason: "is a directory") }
        if mode == .createNew && exists { throw ReportsError.fileUnwritable(path: path, reason: "file exists") }
        var kept = ""
        var removed: String?
        var keepBytes = 0
        if mode == .resume && exists {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ReportsError.fileUnreadable(path: path, reason: String(cString: strerror(errno)))
            }
            let bytes = [UInt8](data)
            // Split on the last newline before decoding, so a line cut inside a multi-byte character is still cut.
            keepBytes = (bytes.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
            guard let text = String(bytes: bytes[..<keepBytes], encoding: .utf8) else {
                throw ReportsError.fileUnreadable(path: path, reason: "not UTF-8 text")
            }
            try validate(text)
            kept = text
            if keepBytes < bytes.count { removed = String(decoding: bytes[keepBytes...], as: UTF8.self) }
        }
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (mode == .resume ? 0 : O_TRUNC) | (mode == .createNew ? O_EXCL : 0)
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else { throw ReportsError.fileUnwritable(path: path, reason: String(cString: strerror(errno))) }
        // Cut a truncated last line (resume) and position at the end of the complete lines.
        guard ftruncate(fd, off_t(keepBytes)) == 0, lseek(fd, off_t(keepBytes), SEEK_SET) == off_t(keepBytes) else {
            let reason = "cannot truncate: \(String(cString: strerror(errno)))"
            Foundation.close(fd)
            throw ReportsError.fileUnwritable(path: path, reason: reason)
        }
        self.fd = fd
        self.size = off_t(keepBytes)
        self.keptText = kept
        self.removedPartialLine = removed
    }

    deinit { if fd >= 0 { Foundation.close(fd) } }

    /// Appends `line` (which must not contain a newline) and a newline; durable on return when `synchronize`.
    /// Throws `ReportsError.fileUnwritable`; the file then still ends with its last complete line.
    public func append(line: String) throws {
        precondition(fd >= 0, "AppendOnlyLineFile used after close()")
        precondition(!line.contains("\n"), "a record must be a single line")
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
            // Never leave half a line: cut back to the last complete one.
            _ = ftruncate(fd, size)
            _ = lseek(fd, size, SEEK_SET)
            throw error
        }
        size += off_t(bytes.count)
    }

    /// Closes the file (further appends are programmer errors). Closing twice is harmless.
    public func close() {
        if fd >= 0 { Foundation.close(fd) }
        fd = -1
    }
}
