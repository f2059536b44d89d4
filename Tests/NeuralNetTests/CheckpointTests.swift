// ParameterStore checkpoints: round trip, and every mismatch is a clear error that loads nothing.
import Foundation
import NeuralNet
import TensorCore
import Testing

@Suite("ParameterStore checkpoints")
struct CheckpointTests {
    let dir: URL
    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    func model(seed: UInt64, out: Int = 3) -> ParameterStore {
        let p = ParameterStore(seed: seed)
        _ = Dense("fc1", inFeatures: 4, outFeatures: 5, in: p)
        _ = Dense("fc2", inFeatures: 5, outFeatures: out, in: p)
        return p
    }

    @Test func roundTripKeepsValuesAndMetadata() throws {
        let a = model(seed: 1), url = dir.appendingPathComponent("a.safetensors")
        try a.save(to: url, metadata: ["k": "v"])
        let f = try SafeTensorsFile(contentsOf: url)
        #expect(f.metadata["k"] == "v")
        let b = model(seed: 2)
        try b.load(from: f)
        #expect(b.values == a.values)
    }

    @Test func shapeMismatchNamesTensorAndLoadsNothing() throws {
        let url = dir.appendingPathComponent("b.safetensors")
        try model(seed: 1, out: 4).save(to: url, metadata: [:])
        let b = model(seed: 2), before = b.values
        let f = try SafeTensorsFile(contentsOf: url)
        #expect(throws: NeuralNetError.parameterShapeMismatch(path: url.path, tensor: "fc2.weight", expected: [3, 5], found: [4, 5])) {
            try b.load(from: f)
        }
        #expect(b.values == before)
    }

    @Test func missingAndUnexpectedTensors() throws {
        let small = ParameterStore(seed: 1)
        _ = Dense("fc1", inFeatures: 4, outFeatures: 5, in: small)
        let url = dir.appendingPathComponent("c.safetensors")
        try small.save(to: url, metadata: [:])
        let f = try SafeTensorsFile(contentsOf: url)
        #expect(throws: NeuralNetError.parameterMissing(path: url.path, tensor: "fc2.weight")) { try model(seed: 2).load(from: f) }
        let big = url.deletingLastPathComponent().appendingPathComponent("d.safetensors")
        try model(seed: 3).save(to: big, metadata: [:])
        let g = try SafeTensorsFile(contentsOf: big)
        #expect(throws: NeuralNetError.parameterUnexpected(path: big.path, tensor: "fc2.bias")) { try small.load(from: g) }
        try small.load(from: g, allowUnexpected: true)
    }

    @Test func nonFiniteParametersAreRefused() throws {
        let a = model(seed: 1)
        a.values[7] = .nan
        let url = dir.appendingPathComponent("e.safetensors")
        try a.save(to: url, metadata: [:])
        #expect(throws: NeuralNetError.parameterNotFinite(path: url.path, tensor: "fc1.weight")) {
            try model(seed: 2).load(from: SafeTensorsFile(contentsOf: url))
        }
    }
}
