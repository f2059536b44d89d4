import Foundation
import TensorCore
import Testing

@testable import NeuralNet

@Suite("SafeTensorsWriter")
struct SafeTensorsWriterTests {
    /// The F32 tensors of reference.json, in the order the generator listed them (not sorted).
    static func referenceTensors() throws -> (SafeTensorsFixtures.Reference, [(name: String, tensor: Tensor)]) {
        let reference = try SafeTensorsFixtures.reference()
        let tensors = reference.f32.tensors.map { t in
            (name: t.name!, tensor: Tensor(shape: t.shape, scalars: t.floats))
        }
        return (reference, tensors)
    }

    /// Header length, header bytes and data bytes of an image.
    static func split(_ image: Data) -> (length: Int, header: Data, data: Data) {
        let n = image.prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        let start = image.startIndex
        return (n, image.subdata(in: (start + 8)..<(start + 8 + n)), image.subdata(in: (start + 8 + n)..<image.endIndex))
    }

    @Test("write then read returns the same tensors, shapes, bits and metadata")
    func roundTrip() throws {
        let dir = try SafeTensorsFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = SystemRandomNumberGenerator()
        let weights = Tensor(shape: [7, 5], scalars: (0..<35).map { _ in Float.random(in: -3...3, using: &rng) })
        let special = Tensor(
            shape: [6],
            scalars: [
                .nan, .infinity, -.infinity, -0.0, .leastNonzeroMagnitude,
                .greatestFiniteMagnitude,
            ])
        let tensors: [(name: String, tensor: Tensor)] = [
            ("conv1.weight", weights), ("head.bias", special),
            ("scalar", Tensor(shape: [], scalars: [0.5])), ("empty", Tensor(shape: [3, 0])),
            ("gn.weight", Tensor(shape: [1, 1, 3], scalars: [1, 2, 3])),
        ]
        let metadata = [
            "arch": "deq-s", "sigma": "0.25", "command": "equicert train --epochs 9\n\"quoted\"",
            "unicode": "σ → ∞ é", "empty": "",
        ]
        let url = dir.appendingPathComponent("model.safetensors")
        try SafeTensorsWriter.write(tensors: tensors, metadata: metadata, to: url)

        let st = try SafeTensorsFile(contentsOf: url)
        #expect(st.metadata == metadata)
        #expect(st.names == ["conv1.weight", "empty", "gn.weight", "head.bias", "scalar"])
        for (name, tensor) in tensors {
            let read = try st.float32(name)
            #expect(read.shape == tensor.shape, "\(name)")
            #expect(read.scalars.map(\.bitPattern) == tensor.scalars.map(\.bitPattern), "\(name)")
            #expect(try st.info(name).dtype == .float32)
        }
        #expect(Self.split(try Data(contentsOf: url)).length % 8 == 0)
    }

    @Test("output is byte-identical to the reference writer (one metadata key; with escapes and non-ASCII)")
    func byteIdenticalToReference() throws {
        let (reference, tensors) = try Self.referenceTensors()
        let expected = try Data(contentsOf: SafeTensorsFixtures.url("reference-f32.safetensors"))
        let mine = try SafeTensorsWriter.encode(tensors: tensors, metadata: reference.f32.single_metadata)
        #expect(mine == expected)
        if mine != expected {
            print("ours:      ", String(decoding: Self.split(mine).header, as: UTF8.self))
            print("reference: ", String(decoding: Self.split(expected).header, as: UTF8.self))
        }
    }

    @Test("output is byte-identical to the reference writer without metadata (no __metadata__ entry)")
    func byteIdenticalWithoutMetadata() throws {
        let (_, tensors) = try Self.referenceTensors()
        let expected = try Data(contentsOf: SafeTensorsFixtures.url("reference-f32-nometa.safetensors"))
        #expect(try SafeTensorsWriter.encode(tensors: tensors, metadata: [:]) == expected)
    }

    /// The reference iterates metadata from a randomly seeded hash map, so with several keys its bytes differ
    /// from run to run only in the order of the `__metadata__` members. Everything else must match exactly.
    @Test("with several metadata keys: same tensor entries, same data bytes, same metadata, same length")
    func structurallyEqualToReferenceWithSeveralKeys() throws {
        let (reference, tensors) = try Self.referenceTensors()
        let referenceImage = try Data(contentsOf: SafeTensorsFixtures.url("reference-f32-multi.safetensors"))
        let mine = try SafeTensorsWriter.encode(tensors: tensors, metadata: reference.f32.multi_metadata)
        let (a, b) = (Self.split(mine), Self.split(referenceImage))
        #expect(a.length == b.length)
        #expect(a.data == b.data)
        let ours = try SafeTensorsFile(data: mine), theirs = try SafeTensorsFile(data: referenceImage)
        #expect(ours.names == theirs.names)
        #expect(ours.metadata == theirs.metadata)
        #expect(ours.metadata == reference.f32.multi_metadata)
        for name in ours.names {
            #expect(try ours.info(name) == theirs.info(name))
        }
        // The tensor part of the header (after the metadata object) is identical text.
        let tail = { (h: Data) -> Substring in
            let s = String(decoding: h, as: UTF8.self)
            return s[s.range(of: "},")!.upperBound...]
        }
        #expect(tail(a.header) == tail(b.header))
        // Ours orders metadata keys by UTF-8 bytes, so repeated writes are reproducible.
        let header = String(decoding: a.header, as: UTF8.self)
        #expect(header.hasPrefix(#"{"__metadata__":{"Zz":"x\\y","dataset":"fashion-mnist","format":"pt","sigma":"0.25"},"#))
    }

    @Test("header is padded with spaces to a multiple of 8 bytes", arguments: 0..<8)
    func headerPadding(extraNameLength: Int) throws {
        let name = "w" + String(repeating: "x", count: extraNameLength)
        let image = try SafeTensorsWriter.encode(tensors: [(name, Tensor(shape: [1], scalars: [1]))], metadata: [:])
        let (length, header, data) = Self.split(image)
        #expect(length % 8 == 0)
        let unpadded = #"{"\#(name)":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        #expect(
            String(decoding: header, as: UTF8.self)
                == unpadded + String(repeating: " ", count: (8 - unpadded.utf8.count % 8) % 8))
        #expect(Array(data) == [0, 0, 0x80, 0x3F])
    }

    @Test("JSON escaping follows serde_json")
    func escaping() {
        #expect(SafeTensorsWriter.jsonString("a\"b\\c/d") == #""a\"b\\c/d""#)
        #expect(SafeTensorsWriter.jsonString("\n\r\t\u{08}\u{0C}\u{01}\u{1F}\u{7F}") == #""\n\r\t\b\f\u0001\u001f"# + "\u{7F}\"")
        #expect(SafeTensorsWriter.jsonString("σé😀") == "\"σé😀\"")
    }

    @Test("writing replaces an existing file and leaves no temporary file behind")
    func replacesAtomically() throws {
        let dir = try SafeTensorsFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("ckpt.safetensors")
        try Data("old contents".utf8).write(to: url)
        try SafeTensorsWriter.write(tensors: [("a", Tensor(shape: [2], scalars: [3, 4]))], metadata: ["v": "2"], to: url)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["ckpt.safetensors"])
        let st = try SafeTensorsFile(contentsOf: url)
        #expect(try st.float32("a").scalars == [3, 4])
        #expect(st.metadata == ["v": "2"])
    }

    @Test(
        "invalid tensor names are rejected before anything is written",
        arguments: [
            ([("a", 1), ("a", 2)], "a", "the name occurs more than once"),
            ([("", 1)], "", "the name is empty"),
            ([("__metadata__", 1)], "__metadata__", "the name is reserved for the metadata"),
        ] as [([(String, Float)], String, String)])
    func invalidNames(named: [(String, Float)], bad: String, reason: String) throws {
        let dir = try SafeTensorsFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("keep.safetensors")
        let original = Data("previous checkpoint".utf8)
        try original.write(to: url)
        let tensors = named.map { (name: $0.0, tensor: Tensor(shape: [1], scalars: [$0.1])) }
        #expect(throws: NeuralNetError.safetensorsBadTensorName(path: url.path, tensor: bad, reason: reason)) {
            try SafeTensorsWriter.write(tensors: tensors, metadata: [:], to: url)
        }
        #expect(try Data(contentsOf: url) == original)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["keep.safetensors"])
    }

    @Test("a failed rename (the destination is a directory) removes the temporary file and keeps the destination")
    func failedRenameCleansUp() throws {
        let dir = try SafeTensorsFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("occupied")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        try Data("inside".utf8).write(to: url.appendingPathComponent("file"))
        #expect {
            try SafeTensorsWriter.write(tensors: [("a", Tensor(shape: [1], scalars: [1]))], metadata: [:], to: url)
        } throws: { error in
            guard case let .fileWriteFailed(path, reason) = error as? NeuralNetError else { return false }
            return path == url.path && reason.contains("rename")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["occupied"])
        #expect(try Data(contentsOf: url.appendingPathComponent("file")) == Data("inside".utf8))
    }

    @Test("writing into a missing directory fails cleanly")
    func missingDirectory() throws {
        let dir = try SafeTensorsFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("no/such/dir/model.safetensors")
        #expect {
            try SafeTensorsWriter.write(tensors: [("a", Tensor(shape: [1], scalars: [1]))], metadata: [:], to: url)
        } throws: { error in
            guard case let .fileWriteFailed(path, reason) = error as? NeuralNetError else { return false }
            return path == url.path && reason.contains("No such file or directory")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}
