import Foundation

/// The rules every command output obeys, checked before any byte is written: an existing file is never replaced
/// without `--force` (or continued without `--resume`, where the command has one), an output is never one of the
/// command's inputs (real paths compared, through symlinks), and a device or FIFO is named as what it is.
public enum OutputGuard {
    /// What may happen to outputs that exist already.
    public enum Existing: Sendable, Equatable {
        /// Refuse (the default).
        case refuse
        /// Replace (`--force`).
        case replace
        /// Continue them (`--resume`): existing files are fine, but still never an input.
        case resume
    }

    /// Checks `outputs` (the main output first, then the files written beside it) against `inputs` and `existing`.
    /// Throws `ReportsError.fileUnwritable` naming the path and what is wrong; touches nothing.
    /// `resumeFlag` names the option that continues an existing output (nil: the command has none).
    public static func check(outputs: [String], inputs: [String], existing: Existing, resumeFlag: String? = "--resume") throws {
        let inputPaths = inputs.compactMap { p in realPath(p).map { (p, $0) } }
        for output in outputs {
            guard !output.isEmpty else { throw ReportsError.fileUnwritable(path: output, reason: "empty path") }
            if let resolved = realPath(output), let input = inputPaths.first(where: { $0.1 == resolved }) {
                let same = input.0 == output ? "" : " (\(resolved))"
                throw ReportsError.fileUnwritable(
                    path: output,
                    reason: "is the input \(input.0)\(same); an output must never replace an input")
            }
            var st = stat()
            guard lstat(output, &st) == 0 else { continue }  // nothing there
            var target = st
            let followed = stat(output, &target) == 0
            if followed, let kind = special(target.st_mode) {
                throw ReportsError.fileUnwritable(path: output, reason: "is \(kind), not a regular file")
            }
            if followed && (target.st_mode & S_IFMT) == S_IFDIR {
                throw ReportsError.fileUnwritable(path: output, reason: "is a directory")
            }
            switch existing {
            case .replace, .resume: continue
            case .refuse:
                let what =
                    (st.st_mode & S_IFMT) == S_IFLNK
                    ? (followed ? "a symlink to an existing file" : "a dangling symlink")
                    : "an existing file"
                let how = resumeFlag.map { "pass \($0) to continue it or --force to replace it" } ?? "pass --force to replace it"
                throw ReportsError.fileUnwritable(path: output, reason: "is \(what) (nothing was changed; \(how))")
            }
        }
    }

    /// The canonical path of `path` with every symlink resolved: realpath(3) of the file when it exists, else of its
    /// directory plus the last component (a dangling symlink resolves to where it points). Nil when unresolvable.
    public static func realPath(_ path: String) -> String? {
        if let r = realpath(path, nil) { defer { free(r) }; return String(cString: r) }
        var link = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &link, Int(PATH_MAX))
        let url = URL(fileURLWithPath: path)
        if n > 0 {  // dangling symlink: where it would be created
            let target = String(decoding: link[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let full = target.hasPrefix("/") ? target : url.deletingLastPathComponent().path + "/" + target
            return full == path ? nil : realPath(full)
        }
        let dir = url.deletingLastPathComponent().path
        guard let r = realpath(dir, nil) else { return nil }
        defer { free(r) }
        return String(cString: r) + "/" + url.lastPathComponent
    }

    /// "a character device (/dev/null is one)", "a FIFO", … for non-regular files (nil for files and directories).
    static func special(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFSOCK: return "a socket"
        default: return nil
        }
    }
}

/// An exclusive lock on an output being written, held for the whole run: `flock(2)` on a lock file beside it
/// (`x.tsv` → `x.tsv.lock`) that names the holder (`pid <n> on <host>`). A second writer is refused naming the
/// holder; the kernel drops the lock when the holder dies, so a killed run never blocks the next one.
public final class OutputLock {
    public let path: String
    private var fd: Int32

    /// Takes the lock for `output`, or throws `ReportsError.fileUnwritable` naming the process holding it.
    public init(output: String) throws {
        path = output + ".lock"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ReportsError.fileUnwritable(path: path, reason: "cannot create the lock file: \(String(cString: strerror(errno)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let busy = errno == EWOULDBLOCK
            let reason = String(cString: strerror(errno))
            var bytes = [UInt8](repeating: 0, count: 256)
            let n = pread(fd, &bytes, bytes.count, 0)
            Foundation.close(fd)
            fd = -1
            guard busy else { throw ReportsError.fileUnwritable(path: path, reason: "cannot lock: \(reason)") }
            let holder = String(decoding: bytes[..<Swift.max(0, n)], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw ReportsError.fileUnwritable(
                path: output,
                reason: "another equicert (\(holder.isEmpty ? "holder unknown" : holder)) is writing it; wait for it or stop it first")
        }
        let text = Array("pid \(getpid()) on \(ProcessInfo.processInfo.hostName)\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, text, text.count, 0)
    }

    /// Removes the lock file and releases the lock (at the end of a successful run). Harmless twice.
    public func release() {
        guard fd >= 0 else { return }
        unlink(path)
        Foundation.close(fd)
        fd = -1
    }

    deinit { if fd >= 0 { Foundation.close(fd) } }
}
