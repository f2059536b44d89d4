import Foundation

/// Whole-file writes that never leave a partial file: temporary sibling, write, fsync, rename.
public enum AtomicFile {
    /// Write `data` to a temporary file in `path`'s directory, fsync it, and rename it over `path`.
    /// On any error the temporary file is removed and an existing file at `path` is untouched.
    public static func write(_ data: Data, to path: String) throws {
        try ReportWriter.checkWritable(path: path)
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".tmp-" + UUID().uuidString
        func failure(_ what: String) -> ReportsError {
            .fileUnwritable(path: path, reason: "\(what): \(String(cString: strerror(errno)))")
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("cannot create temporary file \(temporary)") }
        var done = false
        defer { if !done { unlink(temporary) } }
        do {
            defer { close(fd) }
            try data.withUnsafeBytes { raw in
                try writeAll(fd: fd, raw) { failure("writing \(temporary)") }
            }
            guard fsync(fd) == 0 else { throw failure("fsync of \(temporary)") }
        }
        guard rename(temporary, path) == 0 else { throw failure("cannot rename \(temporary) to \(path)") }
        done = true
    }

    /// `write(2)` the whole buffer, continuing after short writes and EINTR.
    static func writeAll(fd: Int32, _ bytes: UnsafeRawBufferPointer, failure: () -> ReportsError) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw failure()
            }
            offset += n
        }
    }
}
