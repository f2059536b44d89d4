import Foundation
import TensorCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes F32 tensors and string metadata as a safetensors file, byte-compatible with the reference writer.
///
/// Layout as produced by the reference implementation (huggingface/safetensors, `serialize`):
/// tensors sorted by name (UTF-8 byte order; the reference sorts by dtype first, and all ours are F32),
/// placed back to back in that order; header = compact JSON with `__metadata__` first (omitted when the
/// metadata is empty, as the reference does for `metadata=None`), then each tensor's
/// `{"dtype":"F32","shape":[..],"data_offsets":[b,e]}`, padded with spaces to a multiple of 8 bytes.
/// Metadata keys are sorted by UTF-8 bytes (the reference iterates a hash map, so its order is arbitrary;
/// readers must not depend on it). Strings are escaped as serde_json does (`\"`, `\\`, `\n`, `\u0001`, …;
/// non-ASCII and `/` verbatim).
public enum SafeTensorsWriter {
    /// Write `tensors` (as F32, with their shapes) and `metadata` to `url` atomically.
    ///
    /// The bytes go to a temporary file in the destination directory, are flushed, and the file is then
    /// renamed over `url`. On any error the temporary file is removed and an existing file at `url` is untouched.
    /// - Throws: `NeuralNetError.safetensorsBadTensorName` for an empty, reserved (`__metadata__`) or duplicated
    ///   name; `NeuralNetError.fileWriteFailed` when the file system refuses.
    public static func write(
        tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:],
        to url: URL
    ) throws {
        let path = url.path
        let image = try encode(tensors: tensors, metadata: metadata, path: path)
        try writeAtomically(image, to: url)
    }

    /// The complete safetensors image (length prefix, padded header, data) that `write` would store.
    public static func encode(tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:]) throws -> Data {
        try encode(tensors: tensors, metadata: metadata, path: "(in memory)")
    }

    static func encode(
        tensors: [(name: String, tensor: Tensor)], metadata: [String: String],
        path: String
    ) throws -> Data {
        var seen = Set<String>()
        for (name, _) in tensors {
            if name.isEmpty {
                throw NeuralNetError.safetensorsBadTensorName(path: path, tensor: name, reason: "the name is empty")
            }
            if name == "__metadata__" {
                throw NeuralNetError.safetensorsBadTensorName(
                    path: path, tensor: name, reason: "the name is reserved for the metadata")
            }
            if !seen.insert(name).inserted {
                throw NeuralNetError.safetensorsBadTensorName(
                    path: path, tensor: name, reason: "the name occurs more than once")
            }
        }
        let ordered = tensors.sorted { utf8Less($0.name, $1.name) }

        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += "\"__metadata__\":{"
            for (i, key) in metadata.keys.sorted(by: utf8Less).enumerated() {
                if i > 0 { json += "," }
                json += jsonString(key) + ":" + jsonString(metadata[key]!)
            }
            json += "}"
            first = false
        }
        var offset = 0
        for (name, tensor) in ordered {
            let size = tensor.count * MemoryLayout<Float>.size
            if !first { json += "," }
            first = false
            json +=
                jsonString(name) + ":{\"dtype\":\"F32\",\"shape\":["
                + tensor.shape.map(String.init).joined(separator: ",")
                + "],\"data_offsets\":[\(offset),\(offset + size)]}"
            offset += size
        }
        json += "}"
        var header = Array(json.utf8)
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))

        var image = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { image.append(contentsOf: $0) }
        image.append(contentsOf: header)
        for (_, tensor) in ordered {
            #if _endian(little)
                tensor.withUnsafeBufferPointer { image.append(contentsOf: UnsafeRawBufferPointer($0)) }
            #else
                for x in tensor.scalars { withUnsafeBytes(of: x.bitPattern.littleEndian) { image.append(contentsOf: $0) } }
            #endif
        }
        return image
    }

    /// Byte-wise comparison of UTF-8 encodings (Rust's `str` order, used by the reference writer).
    static func utf8Less(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// A JSON string literal escaped like serde_json: `"` `\` and control characters only.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// Write `data` to a temporary sibling of `url`, fsync, and rename it over `url`.
    static func writeAtomically(_ data: Data, to url: URL) throws {
        let path = url.path
        let directory = url.deletingLastPathComponent().path
        let temporary = directory + "/." + url.lastPathComponent + ".tmp-" + UUID().uuidString
        func failure(_ what: String) -> NeuralNetError {
            .fileWriteFailed(path: path, reason: "\(what): \(String(cString: strerror(errno)))")
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("cannot create temporary file \(temporary)") }
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        do {
            let written: Bool = data.withUnsafeBytes { raw in
                var done = 0
                while done < raw.count {
                    let n = posixWrite(fd, raw.baseAddress! + done, raw.count - done)
                    if n < 0 {
                        if errno == EINTR { continue }
                        return false
                    }
                    done += n
                }
                return true
            }
            guard written else {
                let error = failure("writing \(temporary) failed")
                close(fd)
                throw error
            }
            guard fsync(fd) == 0 else {
                let error = failure("fsync of \(temporary) failed")
                close(fd)
                throw error
            }
            guard close(fd) == 0 else { throw failure("closing \(temporary) failed") }
        }
        guard rename(temporary, path) == 0 else { throw failure("cannot rename \(temporary) to \(path)") }
        ok = true
    }
}

/// POSIX `write(2)` under a name that does not collide with `SafeTensorsWriter.write`.
@inline(__always)
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
        return Glibc.write(fd, buffer, count)
    #elseif canImport(Musl)
        return Musl.write(fd, buffer, count)
    #else
        return Darwin.write(fd, buffer, count)
    #endif
}
