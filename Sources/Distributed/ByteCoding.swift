// Conversions between scalar arrays and byte buffers (native byte order: all ranks of a job share one
// architecture), and a small reader/writer for the framed messages of the work queue.
import Foundation

/// Converts scalar arrays to and from their raw bytes (native byte order).
public enum ByteCoding {
    /// The raw bytes of `values` (count × stride bytes).
    public static func bytes<T: BitwiseCopyable>(of values: [T]) -> [UInt8] {
        values.withUnsafeBytes { Array($0) }
    }

    /// Reinterprets `bytes` as an array of `T`; throws if the length is not a multiple of `T`'s stride.
    public static func values<T: BitwiseCopyable>(of bytes: [UInt8], as type: T.Type, context: String) throws -> [T] {
        let stride = MemoryLayout<T>.stride
        guard bytes.count % stride == 0 else {
            throw DistributedError.malformedMessage(
                context: context, reason: "\(bytes.count) bytes is not a multiple of \(stride)")
        }
        let n = bytes.count / stride
        return [T](unsafeUninitializedCapacity: n) { buffer, initialized in
            bytes.withUnsafeBytes { raw in
                if n > 0 { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw) }
            }
            initialized = n
        }
    }
}

/// Appends fixed-width fields to a byte buffer.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func append(_ v: UInt8) { bytes.append(v) }
    mutating func append(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func append(_ v: Double) { append(Int64(bitPattern: v.bitPattern)) }
    mutating func append(contentsOf b: [UInt8]) { bytes.append(contentsOf: b) }
}

/// Reads fixed-width fields from a byte buffer, throwing `malformedMessage` when it runs short.
struct ByteReader {
    let bytes: [UInt8]
    let context: String
    var offset = 0

    init(_ bytes: [UInt8], context: String) {
        self.bytes = bytes
        self.context = context
    }

    mutating func readUInt8() throws -> UInt8 {
        guard offset < bytes.count else { throw short(1) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func readInt64() throws -> Int64 {
        guard offset + 8 <= bytes.count else { throw short(8) }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        offset += 8
        return Int64(bitPattern: v)
    }

    mutating func readDouble() throws -> Double {
        Double(bitPattern: UInt64(bitPattern: try readInt64()))
    }

    mutating func readBytes(_ n: Int) throws -> [UInt8] {
        guard n >= 0, offset + n <= bytes.count else { throw short(n) }
        defer { offset += n }
        return Array(bytes[offset..<(offset + n)])
    }

    mutating func readRest() -> [UInt8] {
        defer { offset = bytes.count }
        return Array(bytes[offset...])
    }

    private func short(_ need: Int) -> DistributedError {
        .malformedMessage(context: context, reason: "needs \(need) more bytes at offset \(offset) of \(bytes.count)")
    }
}
