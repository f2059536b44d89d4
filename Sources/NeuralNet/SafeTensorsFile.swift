import Foundation
import TensorCore

/// A validated, read-only safetensors file: header parsed and checked once, tensors converted lazily.
///
/// Layout: an 8-byte little-endian `UInt64` N, N bytes of UTF-8 JSON
/// `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, …, "__metadata__": {"k": "v"}}`,
/// then the data buffer; offsets are relative to the buffer start, tensors are little-endian and row-major.
/// The file is memory-mapped, so opening a 90 MB checkpoint costs only the header parse;
/// `float32(_:)` copies (and converts) one tensor at a time.
///
/// Guarantee: after `init` succeeds, every tensor has a known dtype, `shape.product × dtype size`
/// equals its byte span, spans lie inside the buffer, and the spans tile the buffer exactly
/// (no overlaps, no holes, as the format requires); metadata is string → string.
public struct SafeTensorsFile: Sendable {
    /// Header entry of one tensor.
    public struct TensorInfo: Sendable, Equatable {
        /// Element type as stored in the file.
        public var dtype: SafeTensorsDType
        /// Extent of each axis, outermost first; `[]` is a scalar.
        public var shape: [Int]
        /// Byte range of the tensor, relative to the start of the data buffer.
        public var dataOffsets: Range<Int>

        /// Number of elements, `shape.product`.
        public var count: Int { shape.reduce(1, *) }
    }

    /// Path the file was read from (used in error messages).
    public let path: String
    /// The `__metadata__` map (empty when the header has none).
    public let metadata: [String: String]
    /// Tensor names in file order (ascending `data_offsets`, ties by name).
    public let names: [String]

    private let entries: [String: TensorInfo]
    private let bytes: Data
    private let dataStart: Int

    /// Map (or read) and validate the file at `url`.
    /// - Throws: `NeuralNetError` naming the file and the problem (see the type's guarantee).
    public init(contentsOf url: URL) throws {
        let path = url.path
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw NeuralNetError.fileUnreadable(path: path, reason: Self.reason(error, path: path))
        }
        try self.init(data: data, path: path)
    }

    /// Validate an in-memory safetensors image; `path` only labels errors.
    public init(data: Data, path: String = "(in memory)") throws {
        let header = try SafeTensorsHeader(data: data, path: path)
        self.path = path
        self.bytes = data
        self.dataStart = header.dataStart
        self.metadata = header.metadata
        self.names = header.orderedNames
        self.entries = header.entries
    }

    /// Whether the file holds a tensor named `name`.
    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// The header entry (dtype, shape, offsets) of `name`.
    /// - Throws: `NeuralNetError.safetensorsMissingTensor` when absent.
    public func info(_ name: String) throws -> TensorInfo {
        guard let info = entries[name] else {
            throw NeuralNetError.safetensorsMissingTensor(path: path, tensor: name)
        }
        return info
    }

    /// The tensor `name` converted to Float, with its stored shape.
    ///
    /// F32 is copied bit-exactly; F16 and BF16 are widened exactly; F64, I64, U64, I32, U32 are rounded to the
    /// nearest Float; I16, U16, I8, U8 are exact; BOOL becomes 0 or 1.
    /// - Throws: `safetensorsMissingTensor`, or `safetensorsUnsupportedConversion` for F8 variants and C64.
    public func float32(_ name: String) throws -> Tensor {
        let info = try info(name)
        guard info.dtype.convertsToFloat else {
            throw NeuralNetError.safetensorsUnsupportedConversion(
                path: path, tensor: name, dtype: info.dtype.rawValue)
        }
        let n = info.count
        let start = dataStart + info.dataOffsets.lowerBound
        let scalars = [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
            bytes.withUnsafeBytes { raw in
                if n > 0, let base = raw.baseAddress, let dst = buffer.baseAddress {
                    info.dtype.convert(base + start, count: n, into: dst)
                }
            }
            initialized = n
        }
        return Tensor(shape: info.shape, scalars: scalars)
    }

    /// The raw little-endian bytes of tensor `name` (a copy), for dtypes without a Float conversion.
    public func rawBytes(_ name: String) throws -> Data {
        let info = try info(name)
        let start = bytes.startIndex + dataStart
        return bytes.subdata(in: (start + info.dataOffsets.lowerBound)..<(start + info.dataOffsets.upperBound))
    }

    /// Why `path` cannot be read, in a few words ("no such file", "is a directory", …).
    static func reason(_ error: any Error, path: String) -> String {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) { return "no such file" }
        if isDirectory.boolValue { return "is a directory" }
        if !FileManager.default.isReadableFile(atPath: path) { return "permission denied" }
        let ns = error as NSError
        return (ns.userInfo[NSUnderlyingErrorKey] as? NSError)?.localizedDescription ?? ns.localizedDescription
    }
}

/// The parsed and validated header of a safetensors image (internal to the reader).
struct SafeTensorsHeader {
    var metadata: [String: String] = [:]
    var entries: [String: SafeTensorsFile.TensorInfo] = [:]
    var orderedNames: [String] = []
    var dataStart = 0

    init(data: Data, path: String) throws {
        let fileSize = data.count
        guard fileSize >= 8 else { throw NeuralNetError.safetensorsTooShort(path: path, fileSize: fileSize) }
        let headerLength: UInt64 = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(fileSize - 8) else {
            throw NeuralNetError.safetensorsHeaderLength(path: path, headerLength: headerLength, fileSize: fileSize)
        }
        let n = Int(headerLength)
        dataStart = 8 + n
        let headerBytes = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + 8 + n))
        let bufferSize = fileSize - dataStart

        // The object as a whole: JSON syntax and top-level type.
        let parsed: SafeTensorsJSON
        do {
            parsed = try JSONDecoder().decode(SafeTensorsJSON.self, from: headerBytes)
        } catch {
            throw NeuralNetError.safetensorsHeaderNotJSON(path: path, reason: Self.syntaxError(headerBytes))
        }
        guard case .object(let object) = parsed else {
            throw NeuralNetError.safetensorsHeaderNotJSON(
                path: path, reason: "the top level is \(parsed.kind), not an object")
        }

        // Entries: typed checks field by field, so the error names the field.
        for (key, value) in object {
            if key == "__metadata__" {
                metadata = try Self.parseMetadata(value, path: path)
                continue
            }
            entries[key] = try Self.parseEntry(key, value, path: path)
        }

        // Per-tensor size and bounds, in file order.
        let ordered = entries.sorted { a, b in
            (a.value.dataOffsets.lowerBound, a.value.dataOffsets.upperBound, a.key)
                < (b.value.dataOffsets.lowerBound, b.value.dataOffsets.upperBound, b.key)
        }
        for (name, info) in ordered {
            let begin = info.dataOffsets.lowerBound, end = info.dataOffsets.upperBound
            guard end <= bufferSize else {
                throw NeuralNetError.safetensorsOffsetsOutOfBounds(
                    path: path, tensor: name, begin: begin, end: end, bufferSize: bufferSize)
            }
            var expected = info.dtype.byteSize
            var overflow = false
            for extent in info.shape where !overflow {
                (expected, overflow) = expected.multipliedReportingOverflow(by: extent)
            }
            guard !overflow, expected == end - begin else {
                throw NeuralNetError.safetensorsSizeMismatch(
                    path: path, tensor: name, shape: info.shape, dtype: info.dtype.rawValue,
                    expectedBytes: overflow ? Int.max : expected, spanBytes: end - begin)
            }
        }

        // Coverage: the spans must tile [0, bufferSize) exactly.
        var covered = 0
        var previous: String? = nil
        for (name, info) in ordered {
            let begin = info.dataOffsets.lowerBound, end = info.dataOffsets.upperBound
            if begin < covered, let previous {
                throw NeuralNetError.safetensorsOverlap(path: path, tensor: name, other: previous)
            }
            if begin > covered {
                throw NeuralNetError.safetensorsHole(path: path, begin: covered, end: begin)
            }
            if end > begin { previous = name }
            covered = max(covered, end)
        }
        if covered != bufferSize {
            throw NeuralNetError.safetensorsHole(path: path, begin: covered, end: bufferSize)
        }
        orderedNames = ordered.map(\.key)
    }

    /// The JSON parser's own account of a syntax error ("Unexpected end of file…", "Invalid value around character 9.").
    private static func syntaxError(_ bytes: Data) -> String {
        do {
            _ = try JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed])
        } catch {
            if let detail = (error as NSError).userInfo["NSDebugDescription"] as? String { return detail }
            return (error as NSError).localizedDescription
        }
        return "invalid JSON (or not UTF-8)"
    }

    private static func parseMetadata(_ value: SafeTensorsJSON, path: String) throws -> [String: String] {
        guard case .object(let dict) = value else {
            throw NeuralNetError.safetensorsBadMetadata(path: path, reason: "it is \(value.kind), not an object")
        }
        var result: [String: String] = [:]
        for (k, v) in dict {
            guard case .string(let s) = v else {
                throw NeuralNetError.safetensorsBadMetadata(
                    path: path, reason: "the value of '\(k)' is \(v.kind), not a string")
            }
            result[k] = s
        }
        return result
    }

    private static func parseEntry(
        _ name: String, _ value: SafeTensorsJSON, path: String
    ) throws
        -> SafeTensorsFile.TensorInfo
    {
        func bad(_ reason: String) -> NeuralNetError {
            .safetensorsBadEntry(path: path, tensor: name, reason: reason)
        }
        guard case .object(let dict) = value else {
            throw bad("the entry is \(value.kind), not an object")
        }
        guard let dtypeValue = dict["dtype"] else { throw bad("missing field 'dtype'") }
        guard case .string(let dtypeName) = dtypeValue else {
            throw bad("'dtype' is \(dtypeValue.kind), not a string")
        }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            throw NeuralNetError.safetensorsUnknownDType(path: path, tensor: name, dtype: dtypeName)
        }
        guard let shapeValue = dict["shape"] else { throw bad("missing field 'shape'") }
        guard let shape = integers(shapeValue) else {
            throw bad("'shape' must be an array of non-negative integers")
        }
        guard let offsetsValue = dict["data_offsets"] else { throw bad("missing field 'data_offsets'") }
        guard let offsets = integers(offsetsValue), offsets.count == 2 else {
            throw bad("'data_offsets' must be two non-negative integers [begin, end]")
        }
        guard offsets[0] <= offsets[1] else {
            throw bad("'data_offsets' [\(offsets[0]), \(offsets[1])] end before they begin")
        }
        return .init(dtype: dtype, shape: shape, dataOffsets: offsets[0]..<offsets[1])
    }

    /// An array of non-negative integers, or nil (rejects fractions, booleans, strings, negatives).
    private static func integers(_ value: SafeTensorsJSON) -> [Int]? {
        guard case .array(let array) = value else { return nil }
        var result: [Int] = []
        result.reserveCapacity(array.count)
        for element in array {
            guard case .integer(let int) = element, int >= 0 else { return nil }
            result.append(int)
        }
        return result
    }
}

/// A JSON value, decoded strictly (booleans are not numbers, fractions are not integers).
enum SafeTensorsJSON: Decodable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case array([SafeTensorsJSON])
    case object([String: SafeTensorsJSON])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int.self) {
            self = .integer(i)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([SafeTensorsJSON].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: SafeTensorsJSON].self))
        }
    }

    /// "a string", "an array", … for error messages.
    var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer, .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
