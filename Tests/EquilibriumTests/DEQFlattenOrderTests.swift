import Equilibrium
// DEQ-S's flatten head in PyTorch's (c, h, w) column order for new checkpoints, old (h, w, c) checkpoints still
// loading, and the conversion between them, all held to the PyTorch twin of Scripts/gen-mdeq-fixtures.py.
import Foundation
import NeuralNet
import TensorCore
import Testing
import _TestSupport

@Suite("DEQ-S flatten order")
struct DEQFlattenOrderTests {
    /// The model of a fixture file (its parameters; `fixture.*` tensors are the expected values).
    func load(_ name: String) throws -> (DEQSmall, SafeTensorsFile) {
        let f = try EquilibriumFixtures.file(name)
        let m = try DEQSmall(try DEQConfiguration.fromJSON(f.metadata["equicert.architecture"]!, path: f.path))
        try m.parameters.load(from: f, ignoringPrefixes: ["fixture."])
        return (m, f)
    }

    /// head(z), f(z; x̃) and the logits after a few iterations equal PyTorch's, whichever order the file uses.
    @Test(arguments: [
        ("deqs-pytorch.safetensors", DEQConfiguration.FlattenOrder.channelsFirst),
        ("deqs-legacy.safetensors", .channelsLast),
    ])
    func matchesPyTorch(file: String, order: DEQConfiguration.FlattenOrder) throws {
        let (m, f) = try load(file)
        #expect(m.configuration.flattenOrder == order)
        let x = try f.float32("fixture.x"), z = try f.float32("fixture.z")
        let inj = m.inject(x).injection
        var zk = m.zeroState(batch: x.shape[0])
        for _ in 0..<Int(f.metadata["fixture.iterations"]!)! { zk = m.map(zk, inj) }
        let errors = [
            relativeError(m.head(z).logits, try f.float32("fixture.head")),
            relativeError(m.map(z, inj), try f.float32("fixture.f")),
            relativeError(m.head(zk).logits, try f.float32("fixture.logits")),
        ]
        print("DEQ-S \(order.rawValue) file vs PyTorch, max relative error (head, f, logits): \(errors)")
        #expect(errors.allSatisfy { $0 < 1e-4 }, "\(errors)")
    }

    /// An old checkpoint converted to PyTorch's order has exactly PyTorch's weight (and back), the same logits, and
    /// says so in its architecture JSON.
    @Test func conversionBothWays() throws {
        let (legacy, _) = try load("deqs-legacy.safetensors")
        let (pytorch, f) = try load("deqs-pytorch.safetensors")
        let slot = try #require(pytorch.parameters.slot(named: "head.fc.weight"))
        let converted = try legacy.withFlattenOrder(.channelsFirst)
        #expect(converted.parameters.values == pytorch.parameters.values)
        #expect(converted.configuration.jsonString().contains(#""flattenOrder":"chw""#))
        let back = try pytorch.withFlattenOrder(.channelsLast)
        #expect(back.parameters.tensor(slot) == legacy.parameters.tensor(slot))
        #expect(back.parameters.tensor(slot) != pytorch.parameters.tensor(slot))
        let z = try f.float32("fixture.z")
        #expect(relativeError(converted.head(z).logits, legacy.head(z).logits) < 1e-6)
        #expect(relativeError(back.head(z).logits, pytorch.head(z).logits) < 1e-6)
    }

    /// New configurations use PyTorch's order and write it; JSON without the key (every checkpoint written before it,
    /// like the embedded models) reads as the old order.
    @Test func metadataFlag() throws {
        let c = DEQConfiguration(head: .flatten, normalizationMean: 0.3, normalizationStd: 0.4)
        #expect(c.flattenOrder == .channelsFirst)
        #expect(try DEQConfiguration.fromJSON(c.jsonString(), path: "new") == c)
        var old = c
        old.flattenOrder = .channelsLast
        let oldJSON = c.jsonString().replacingOccurrences(of: #","flattenOrder":"chw""#, with: "")
        #expect(!oldJSON.contains("flattenOrder"))
        #expect(try DEQConfiguration.fromJSON(oldJSON, path: "old") == old)
        let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Models/deq-s-fashion-mnist-sigma0.25.safetensors")
        let embedded = try SafeTensorsFile(contentsOf: models)
        let e = try DEQConfiguration.fromJSON(embedded.metadata["equicert.architecture"]!, path: embedded.path)
        #expect(e.head == .flatten && e.flattenOrder == .channelsLast)
    }
}
