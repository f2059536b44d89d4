import Foundation
import TensorCore
import Testing

@testable import NeuralNet

/// Fixtures written by the reference Python implementation (Scripts/gen-safetensors-fixture.py),
/// located next to this file (the test target declares no resources).
enum SafeTensorsFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    struct TensorValues: Decodable {
        var dtype: String?
        var name: String?
        var shape: [Int]
        var bits: [UInt32]
        var floats: [Float] { bits.map(Float.init(bitPattern:)) }
    }

    struct Mixed: Decodable {
        var metadata: [String: String]
        var tensors: [String: TensorValues]
    }

    struct F32: Decodable {
        var single_metadata: [String: String]
        var multi_metadata: [String: String]
        var tensors: [TensorValues]
    }

    struct Reference: Decodable {
        var generator: String
        var mixed: Mixed
        var f32: F32
    }

    static func reference() throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url("reference.json")))
    }

    /// A fresh empty directory under the system temporary directory; the caller removes it.
    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("safetensors-tests-" + UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

@Suite("SafeTensorsFile reading reference files")
struct SafeTensorsReaderTests {
    @Test("values of every dtype match the reference's NumPy widening to float32, bit for bit")
    func mixedDTypesMatchReference() throws {
        let reference = try SafeTensorsFixtures.reference()
        let file = try SafeTensorsFile(contentsOf: SafeTensorsFixtures.url("reference-mixed.safetensors"))
        #expect(file.metadata == reference.mixed.metadata)
        #expect(Set(file.names) == Set(reference.mixed.tensors.keys))
        #expect(file.names.count == reference.mixed.tensors.count)
        for (name, expected) in reference.mixed.tensors {
            let info = try file.info(name)
            #expect(info.dtype.rawValue == expected.dtype, "\(name)")
            #expect(info.shape == expected.shape, "\(name)")
            let tensor = try file.float32(name)
            #expect(tensor.shape == expected.shape, "\(name)")
            #expect(tensor.scalars.map(\.bitPattern) == expected.bits, "\(name)")
        }
        // Spot checks that do not rely on the fixture's widening.
        #expect(try file.float32("embeddings.position_ids").scalars.prefix(4) == [0, 1, 2, 511])
        #expect(try file.float32("mask.bool").scalars == [1, 0, 0, 1])
        #expect(try file.float32("scalar").shape == [])
        #expect(try file.float32("scalar").scalars == [7.25])
        #expect(try file.float32("empty").shape == [0, 3])
        #expect(try file.info("layer.bf16").dtype == .bfloat16)
    }

    @Test("names are listed in data-offset order and tile the data buffer")
    func namesInFileOrder() throws {
        let file = SafeTensorsFixtures.url("reference-mixed.safetensors")
        let st = try SafeTensorsFile(contentsOf: file)
        let offsets = try st.names.map { try st.info($0).dataOffsets }
        #expect(offsets.first?.lowerBound == 0)
        for (a, b) in zip(offsets, offsets.dropFirst()) {
            #expect(a.upperBound == b.lowerBound)
        }
        // The reference puts I64 (largest dtype in its order) first.
        #expect(st.names.first == "embeddings.position_ids")
        let size = try Data(contentsOf: file).count
        let header = try Data(contentsOf: file).prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        #expect(offsets.last?.upperBound == size - 8 - header)
    }

    @Test("raw bytes of a tensor are the little-endian elements")
    func rawBytes() throws {
        let st = try SafeTensorsFile(contentsOf: SafeTensorsFixtures.url("reference-mixed.safetensors"))
        let raw = try st.rawBytes("ints.i16")
        #expect(Array(raw) == [0x00, 0x80, 0xFF, 0x7F, 0xFF, 0xFF])  // -32768, 32767, -1
    }

    @Test("F16 conversion is exact on the boundary cases")
    func halfConversion() {
        #expect(floatFromHalfBits(0x3C00) == 1)
        #expect(floatFromHalfBits(0xC000) == -2)
        #expect(floatFromHalfBits(0x7BFF) == 65504)
        #expect(floatFromHalfBits(0x0001) == 0x1p-24)  // smallest subnormal
        #expect(floatFromHalfBits(0x03FF) == Float(1023) * 0x1p-24)  // largest subnormal
        #expect(floatFromHalfBits(0x0400) == 0x1p-14)  // smallest normal
        #expect(floatFromHalfBits(0x8000).bitPattern == (-Float(0)).bitPattern)
        #expect(floatFromHalfBits(0x7C00) == .infinity)
        #expect(floatFromHalfBits(0xFC00) == -.infinity)
        #expect(floatFromHalfBits(0x7E00).isNaN)
        // Every finite half agrees with the standard-library conversion where one exists.
        #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
            for bits in UInt16.min...UInt16.max {
                let mine = floatFromHalfBits(bits)
                let std = Float(Float16(bitPattern: bits))
                if std.isNaN { #expect(mine.isNaN) } else { #expect(mine.bitPattern == std.bitPattern) }
            }
        #endif
    }

    @Test("opening parses only the header; a tensor of an F8 dtype can be listed but not converted")
    func unsupportedConversion() throws {
        let image = SafeTensorsCorruptionTests.image(
            #"{"q":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}"#, data: [0x38, 0x7E])
        let st = try SafeTensorsFile(data: image, path: "f8.safetensors")
        #expect(try st.info("q").dtype == .float8E4M3)
        #expect(try Array(st.rawBytes("q")) == [0x38, 0x7E])
        #expect(
            throws: NeuralNetError.safetensorsUnsupportedConversion(
                path: "f8.safetensors", tensor: "q", dtype: "F8_E4M3")
        ) { try st.float32("q") }
    }
}
