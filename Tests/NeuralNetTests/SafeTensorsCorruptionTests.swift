import Foundation
import TensorCore
import Testing

@testable import NeuralNet

/// Each corruption the reader must reject, written to a real file in a temporary directory.
@Suite("SafeTensorsFile rejects corrupt files")
struct SafeTensorsCorruptionTests {
    /// A safetensors image: the UTF-8 header (with a correct length prefix unless `length` is given) and data bytes.
    static func image(_ header: String, data: [UInt8], length: UInt64? = nil) -> Data {
        var out = Data()
        let h = Array(header.utf8)
        withUnsafeBytes(of: (length ?? UInt64(h.count)).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: h)
        out.append(contentsOf: data)
        return out
    }

    /// Write `bytes` to a temporary file, open it, and check the thrown error equals `expected(path)`
    /// and that its one-line description names the file.
    func expectRejected(
        _ bytes: Data, _ expected: (String) -> NeuralNetError,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let dir = try SafeTensorsFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("corrupt.safetensors")
        try bytes.write(to: url)
        do {
            _ = try SafeTensorsFile(contentsOf: url)
            Issue.record("opening the corrupt file succeeded", sourceLocation: sourceLocation)
        } catch let error as NeuralNetError {
            #expect(error == expected(url.path), sourceLocation: sourceLocation)
            #expect(error.description.hasPrefix(url.path + ": "), sourceLocation: sourceLocation)
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
        }
    }

    static let f32Entry = #"{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#
    static let eightBytes: [UInt8] = [0, 0, 128, 63, 0, 0, 0, 64]  // 1.0, 2.0

    @Test("a well-formed image made by the helper opens (control for the cases below)")
    func control() throws {
        let st = try SafeTensorsFile(data: Self.image(#"{"a":\#(Self.f32Entry)}"#, data: Self.eightBytes))
        #expect(try st.float32("a").scalars == [1, 2])
    }

    @Test("file shorter than 8 bytes", arguments: [0, 1, 7])
    func tooShort(size: Int) throws {
        try expectRejected(Data(repeating: 0, count: size)) { .safetensorsTooShort(path: $0, fileSize: size) }
    }

    @Test("header length larger than the file")
    func headerLengthTooLarge() throws {
        let header = #"{"a":\#(Self.f32Entry)}"#
        let bytes = Self.image(header, data: Self.eightBytes, length: 1_000)
        try expectRejected(bytes) {
            .safetensorsHeaderLength(path: $0, headerLength: 1_000, fileSize: bytes.count)
        }
        let huge = Self.image(header, data: Self.eightBytes, length: .max)  // must not overflow
        try expectRejected(huge) {
            .safetensorsHeaderLength(path: $0, headerLength: .max, fileSize: huge.count)
        }
    }

    @Test("header that is not valid JSON", arguments: [#"{"a": {"dtype": "F32","#, "not json at all", "{}}"])
    func headerNotJSON(header: String) throws {
        let dir = try SafeTensorsFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("bad.safetensors")
        try Self.image(header, data: []).write(to: url)
        #expect {
            try SafeTensorsFile(contentsOf: url)
        } throws: { error in
            guard case let .safetensorsHeaderNotJSON(path, reason) = error as? NeuralNetError else { return false }
            return path == url.path && !reason.isEmpty && !"\(error)".contains("\n")
        }
    }

    @Test("header bytes that are not UTF-8")
    func headerNotUTF8() throws {
        var bytes = Self.image("{\"\u{FF}\":1}", data: [])
        // Replace the two-byte UTF-8 encoding of ÿ (C3 BF) by a lone continuation byte and a space.
        let index = bytes.firstIndex(of: 0xC3)!
        bytes[index] = 0xBF
        bytes[index + 1] = 0x20
        #expect(throws: NeuralNetError.self) { try SafeTensorsFile(data: bytes) }
        #expect {
            try SafeTensorsFile(data: bytes)
        } throws: { error in
            if case .safetensorsHeaderNotJSON = error as? NeuralNetError { return true }
            return false
        }
    }

    @Test("header that is JSON but not an object", arguments: ["[1, 2]", #""text""#, "42", "null"])
    func headerNotObject(header: String) throws {
        let dir = try SafeTensorsFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("array.safetensors")
        try Self.image(header, data: []).write(to: url)
        #expect {
            try SafeTensorsFile(contentsOf: url)
        } throws: { error in
            guard case let .safetensorsHeaderNotJSON(path, reason) = error as? NeuralNetError else { return false }
            return path == url.path && reason.contains("not an object")
        }
    }

    @Test("unknown dtype")
    func unknownDType() throws {
        try expectRejected(
            Self.image(
                #"{"w":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}"#,
                data: Self.eightBytes)
        ) {
            .safetensorsUnknownDType(path: $0, tensor: "w", dtype: "F33")
        }
    }

    @Test("shape × dtype size differs from the offsets span")
    func sizeMismatch() throws {
        try expectRejected(
            Self.image(
                #"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#,
                data: Array(repeating: 0, count: 20))
        ) {
            .safetensorsSizeMismatch(
                path: $0, tensor: "w", shape: [2, 3], dtype: "F32",
                expectedBytes: 24, spanBytes: 20)
        }
        // The same span read as F16 would need 12 bytes.
        try expectRejected(
            Self.image(
                #"{"h":{"dtype":"F16","shape":[2,3],"data_offsets":[0,8]}}"#,
                data: Self.eightBytes)
        ) {
            .safetensorsSizeMismatch(
                path: $0, tensor: "h", shape: [2, 3], dtype: "F16",
                expectedBytes: 12, spanBytes: 8)
        }
    }

    @Test("shape whose element count overflows Int")
    func shapeOverflow() throws {
        let header = #"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#
        try expectRejected(Self.image(header, data: Self.eightBytes)) {
            .safetensorsSizeMismatch(
                path: $0, tensor: "w", shape: [4_294_967_296, 4_294_967_296], dtype: "F32",
                expectedBytes: .max, spanBytes: 8)
        }
    }

    @Test("offsets beyond the data buffer")
    func offsetsOutOfBounds() throws {
        try expectRejected(
            Self.image(
                #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
                data: Self.eightBytes)
        ) {
            .safetensorsOffsetsOutOfBounds(path: $0, tensor: "w", begin: 0, end: 16, bufferSize: 8)
        }
    }

    @Test("offsets whose end precedes their begin")
    func offsetsReversed() throws {
        try expectRejected(
            Self.image(
                #"{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#,
                data: Self.eightBytes)
        ) {
            .safetensorsBadEntry(path: $0, tensor: "w", reason: "'data_offsets' [8, 0] end before they begin")
        }
    }

    @Test("overlapping tensors")
    func overlap() throws {
        let header =
            #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"#
            + #""b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#
        try expectRejected(Self.image(header, data: Array(repeating: 0, count: 24))) {
            .safetensorsOverlap(path: $0, tensor: "b", other: "a")
        }
        // Two tensors on exactly the same bytes also overlap.
        let same = #"{"a":\#(Self.f32Entry),"b":\#(Self.f32Entry)}"#
        try expectRejected(Self.image(same, data: Self.eightBytes)) {
            .safetensorsOverlap(path: $0, tensor: "b", other: "a")
        }
    }

    @Test("hole between two tensors")
    func holeBetween() throws {
        let header =
            #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
            + #""b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}"#
        try expectRejected(Self.image(header, data: Array(repeating: 0, count: 20))) {
            .safetensorsHole(path: $0, begin: 8, end: 12)
        }
    }

    @Test("hole before the first tensor")
    func holeAtStart() throws {
        try expectRejected(
            Self.image(
                #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                data: Array(repeating: 0, count: 12))
        ) {
            .safetensorsHole(path: $0, begin: 0, end: 4)
        }
    }

    @Test("trailing bytes after the last tensor")
    func holeAtEnd() throws {
        try expectRejected(Self.image(#"{"a":\#(Self.f32Entry)}"#, data: Self.eightBytes + [1, 2, 3, 4])) {
            .safetensorsHole(path: $0, begin: 8, end: 12)
        }
        // A header with no tensors must come with an empty buffer.
        try expectRejected(Self.image(#"{"__metadata__":{"k":"v"}}"#, data: [9])) {
            .safetensorsHole(path: $0, begin: 0, end: 1)
        }
    }

    @Test("metadata values that are not strings")
    func metadataNotStrings() throws {
        try expectRejected(
            Self.image(
                #"{"__metadata__":{"epochs":9},"a":\#(Self.f32Entry)}"#,
                data: Self.eightBytes)
        ) {
            .safetensorsBadMetadata(path: $0, reason: "the value of 'epochs' is a number, not a string")
        }
        try expectRejected(Self.image(#"{"__metadata__":["x"],"a":\#(Self.f32Entry)}"#, data: Self.eightBytes)) {
            .safetensorsBadMetadata(path: $0, reason: "it is an array, not an object")
        }
        try expectRejected(Self.image(#"{"__metadata__":{"k":{"nested":"v"}}}"#, data: [])) {
            .safetensorsBadMetadata(path: $0, reason: "the value of 'k' is an object, not a string")
        }
    }

    @Test(
        "tensor entries with missing or mistyped fields",
        arguments: [
            (#"{"dtype":"F32","data_offsets":[0,8]}"#, "missing field 'shape'"),
            (#"{"shape":[2],"data_offsets":[0,8]}"#, "missing field 'dtype'"),
            (#"{"dtype":"F32","shape":[2]}"#, "missing field 'data_offsets'"),
            (#"{"dtype":32,"shape":[2],"data_offsets":[0,8]}"#, "'dtype' is a number, not a string"),
            (#"{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}"#, "'shape' must be an array of non-negative integers"),
            (#"{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}"#, "'shape' must be an array of non-negative integers"),
            (#"{"dtype":"F32","shape":[true],"data_offsets":[0,8]}"#, "'shape' must be an array of non-negative integers"),
            (#"{"dtype":"F32","shape":"2","data_offsets":[0,8]}"#, "'shape' must be an array of non-negative integers"),
            (#"{"dtype":"F32","shape":[2],"data_offsets":[0]}"#, "'data_offsets' must be two non-negative integers [begin, end]"),
            (#"{"dtype":"F32","shape":[2],"data_offsets":[0,8.5]}"#, "'data_offsets' must be two non-negative integers [begin, end]"),
            ("[1]", "the entry is an array, not an object"),
        ])
    func badEntry(entry: String, reason: String) throws {
        try expectRejected(Self.image(#"{"w":\#(entry)}"#, data: Self.eightBytes)) {
            .safetensorsBadEntry(path: $0, tensor: "w", reason: reason)
        }
    }

    @Test("requesting a tensor the file does not hold")
    func missingTensor() throws {
        let dir = try SafeTensorsFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("one.safetensors")
        try Self.image(#"{"a":\#(Self.f32Entry)}"#, data: Self.eightBytes).write(to: url)
        let st = try SafeTensorsFile(contentsOf: url)
        #expect(st.contains("a") && !st.contains("b"))
        let expected = NeuralNetError.safetensorsMissingTensor(path: url.path, tensor: "b")
        #expect(throws: expected) { try st.info("b") }
        #expect(throws: expected) { try st.float32("b") }
        #expect(throws: expected) { try st.rawBytes("b") }
        #expect(expected.description == "\(url.path): safetensors file has no tensor named 'b'")
    }

    @Test("a file that does not exist, and a directory instead of a file")
    func unreadable() throws {
        let dir = try SafeTensorsFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("absent.safetensors")
        #expect(throws: NeuralNetError.fileUnreadable(path: url.path, reason: "no such file")) {
            try SafeTensorsFile(contentsOf: url)
        }
        #expect(throws: NeuralNetError.fileUnreadable(path: dir.path, reason: "is a directory")) {
            try SafeTensorsFile(contentsOf: dir)
        }
    }
}
