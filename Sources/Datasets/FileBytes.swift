// Whole-file reading, raw or gzip-compressed (detected by the magic bytes 1f 8b), through zlib.
import CZlib
import Foundation

/// Reads whole files into memory, decompressing gzip transparently.
public enum FileBytes {
    /// True when the file starts with the gzip magic bytes `1f 8b`.
    public static func isGzip(path: String) throws -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw DatasetsError.unreadable(path: path, reason: "cannot open")
        }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 2)) ?? Data()
        return head.count == 2 && head[head.startIndex] == 0x1f && head[head.startIndex + 1] == 0x8b
    }

    /// The file's bytes; a gzip file is decompressed completely and its CRC and length are checked.
    ///
    /// Throws `DatasetsError.fileNotFound`, `.unreadable`, or `.corruptGzip` (a truncated stream,
    /// a data error, or a failed integrity check) — never returns a partial read.
    public static func read(path: String) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DatasetsError.fileNotFound(path: path, tried: [path])
        }
        if isDirectory.boolValue { throw DatasetsError.unreadable(path: path, reason: "is a directory") }
        if try isGzip(path: path) { return try readGzip(path: path) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DatasetsError.unreadable(path: path, reason: "cannot read contents")
        }
        return [UInt8](data)
    }

    private static func readGzip(path: String) throws -> [UInt8] {
        guard let file = gzopen(path, "rb") else {
            throw DatasetsError.unreadable(path: path, reason: "gzopen failed")
        }
        var closed = false
        defer { if !closed { gzclose(file) } }
        _ = gzbuffer(file, 1 << 17)
        var out: [UInt8] = []
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        while true {
            let n = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32(chunk)) }
            if n < 0 { throw DatasetsError.corruptGzip(path: path, reason: errorMessage(file)) }
            if n == 0 { break }
            out.append(contentsOf: buffer[0..<Int(n)])
        }
        // zlib reports a stream that ends before its trailer as Z_BUF_ERROR without failing gzread.
        var code: Int32 = Z_OK
        let message = gzerror(file, &code).map { String(cString: $0) } ?? ""
        if code != Z_OK {
            throw DatasetsError.corruptGzip(path: path, reason: message.isEmpty ? "zlib error \(code)" : message)
        }
        closed = true
        let status = gzclose(file)
        if status != Z_OK {
            throw DatasetsError.corruptGzip(
                path: path,
                reason: status == Z_BUF_ERROR
                    ? "unexpected end of file" : "gzclose failed (\(status))")
        }
        return out
    }

    private static func errorMessage(_ file: gzFile) -> String {
        var code: Int32 = 0
        let message = gzerror(file, &code).map { String(cString: $0) } ?? ""
        return message.isEmpty ? "zlib error \(code)" : message
    }
}
