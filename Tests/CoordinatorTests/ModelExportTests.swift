import Equilibrium
import Foundation
import NeuralNet
import TensorCore
import Testing

@testable import Coordinator

/// `equicert export`: export then import gives back the model (parameters bit for bit, logits equal) for MDEQ at every
/// branch count and DEQ-S with every head; the MDEQ state_dict has exactly the tensor names and shapes of the PyTorch
/// twin (Scripts/gen-mdeq-fixtures.py); bad input is refused with nothing written.
@Suite("equicert export")
struct ModelExportTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../EquilibriumTests/Fixtures").standardizedFileURL

    func scratch() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    /// Every parameter moved off its initial value by a seeded perturbation (GroupNorm affines included), so no
    /// export choice can hide behind an initialiser's 1s and 0s.
    func perturb(_ p: ParameterStore, seed: UInt64, skipping skip: (String) -> Bool = { _ in false }) {
        var rng = SplitMix64(seed: seed)
        for slot in p.slots where !skip(slot.name) {
            for i in slot.range { p.values[i] += Float(Int(rng.next() % 2001) - 1000) / 10_000 }
        }
    }

    func images(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed)
        return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float(rng.next() % 1000) / 999 })
    }

    /// Logits after a fixed number of plain iterations from zero (deterministic, every part of the model used).
    func logits(_ m: some EquilibriumModel, _ x: Tensor, iterations: Int = 5) -> Tensor {
        let (inj, _) = m.inject(x)
        var z = m.zeroState(batch: x.shape[0])
        for _ in 0..<iterations { z = m.map(z, inj) }
        return m.head(z).logits
    }

    func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.scalars, b.scalars).map { abs($0 - $1) }.max()! / b.maxAbs()
    }

    func fixtureConfiguration(branches n: Int) throws -> MDEQConfiguration {
        let f = try SafeTensorsFile(contentsOf: Self.fixtures.appendingPathComponent("mdeq-b\(n).safetensors"))
        return try MDEQConfiguration.fromJSON(f.metadata["equicert.architecture"]!, path: f.path)
    }

    func provenance(_ data: String = "cifar10", sigma: Float = 0.25) -> DEQCheckpoint.Provenance {
        DEQCheckpoint.Provenance(dataSet: data, sigma: sigma, command: "test", codeVersion: "test", epochsDone: 1, stepsDone: 1)
    }

    /// Export (plain weights or weight norm), import the result with the written configuration; returns the
    /// re-imported model and the exported tensors.
    func roundTrip(_ model: String, in dir: URL, weightNorm: Bool = false) throws -> (LoadedDEQ, SafeTensorsFile, String) {
        var e = ExportJob.Settings(model: model, output: dir.appendingPathComponent("sd-\(UUID().uuidString).safetensors").path)
        e.weightNorm = weightNorm
        _ = try ExportJob(e).run()
        let config = ExportJob(e).configPath(for: CheckpointKind.detect(model))
        var i = ImportJob.Settings(stateDict: e.output, output: dir.appendingPathComponent("back-\(UUID().uuidString).safetensors").path)
        i.configFile = config
        _ = try ImportJob(i).run()
        let text = try String(contentsOfFile: config, encoding: .utf8)
        return (try LoadedDEQ(path: i.output), try SafeTensorsFile(contentsOf: URL(fileURLWithPath: e.output)), text)
    }

    @Test(arguments: [1, 2, 3, 4])
    func mdeqExportImportIsExact(branches n: Int) throws {
        let dir = try scratch(); defer { try? FileManager.default.removeItem(at: dir) }
        var c = try fixtureConfiguration(branches: n)
        c.normalizationMean = [0.1, 0.2, 0.3]; c.normalizationStd = [0.3, 0.25, 0.2]  // not what import would assume
        for postAffine in [true, false] {
            let m = try MDEQ(c, seed: UInt64(n))
            perturb(m.parameters, seed: UInt64(10 + n)) { !postAffine && $0.hasPrefix("fullstage.post_fuse_layers.") && $0.contains(".gnorm.") }
            let path = dir.appendingPathComponent("m\(n)-\(postAffine).safetensors").path
            try DEQCheckpoint.saveMDEQ(m, provenance: provenance(), optimizer: nil, to: path)
            let (back, sd, yaml) = try roundTrip(path, in: dir)
            let b = try #require(back.model as? MDEQ)
            #expect(b.configuration == c)
            #expect(back.provenance.dataSet == "cifar10" && back.provenance.sigma == 0.25, "the configuration carries data and σ")
            #expect(b.parameters.values == m.parameters.values, "parameters changed in the round trip")
            let x = images([3, c.inputHeight, c.inputWidth, 3], seed: 5)
            #expect(logits(b, x).scalars == logits(m, x).scalars)
            #expect(yaml.contains("POST_GN_AFFINE: \(n > 1 && postAffine)") && yaml.contains("WNORM: false"))
            #expect(sd.names.contains { $0.hasSuffix("post_fuse_layers.0.gnorm.weight") } == (n > 1 && postAffine))
            #expect(!sd.names.contains { $0.hasSuffix("weight_g") })
            // Weight norm: g rounded once, so the weights come back within a unit in the last place.
            let (wn, wsd, wyaml) = try roundTrip(path, in: dir, weightNorm: true)
            let w = try #require(wn.model as? MDEQ)
            #expect(wsd.names.contains("fullstage.branches.0.blocks.0.conv1.weight_g") && wyaml.contains("WNORM: true"))
            let err = relativeError(logits(w, x), logits(m, x))
            print("MDEQ \(n) branch(es), post-fusion affine \(postAffine): export --weight-norm round trip, max relative logit error \(err)")
            #expect(err <= 1e-5, "weight-norm round trip: relative error \(err)")
        }
    }

    /// Exported with weight norm and identity post-fusion norms, the state_dict has exactly the names and shapes of
    /// the PyTorch twin's raw state_dict (num_batches_tracked aside: PyTorch fills it in when absent).
    @Test(arguments: [1, 2, 3, 4])
    func mdeqExportHasTheTwinsNamesAndShapes(branches n: Int) throws {
        let dir = try scratch(); defer { try? FileManager.default.removeItem(at: dir) }
        let fixture = try SafeTensorsFile(contentsOf: Self.fixtures.appendingPathComponent("mdeq-b\(n).safetensors"))
        let m = try MDEQ(try fixtureConfiguration(branches: n), seed: 3)
        let path = dir.appendingPathComponent("m.safetensors").path
        try DEQCheckpoint.saveMDEQ(m, provenance: provenance(), optimizer: nil, to: path)
        let (_, sd, _) = try roundTrip(path, in: dir, weightNorm: true)
        let twin = fixture.names.filter { !$0.hasPrefix("fixture.") && !$0.hasSuffix(".num_batches_tracked") }
        #expect(Set(sd.names) == Set(twin), "only exported: \(Set(sd.names).subtracting(twin)); only twin: \(Set(twin).subtracting(sd.names))")
        for name in twin where sd.names.contains(name) {
            #expect(try sd.info(name).shape == fixture.info(name).shape, "\(name)")
        }
        // The BatchNorms are identities: running_var = 1 − ε in float32, and running_mean 0 except where the
        // non-affine head BatchNorms carry the folded bias.
        #expect(try sd.float32("downsample.1.running_var").scalars.allSatisfy { $0 == Float(1 - Double(Float(1e-5))) })
        #expect(try sd.float32("downsample.1.running_mean").scalars.allSatisfy { $0 == 0 })
        #expect(
            try sd.float32("incre_modules.0.0.bn1.running_mean").scalars
                == m.parameters.tensor(m.parameters.slot(named: "incre_modules.0.0.conv1.bias")!).scalars.map { -$0 })
    }

    /// The twin's own state_dict imported, exported and imported again: the same checkpoint parameters, the same
    /// logits as PyTorch's (the fixture).
    @Test(arguments: [1, 2, 3, 4])
    func twinStateDictSurvivesImportExportImport(branches n: Int) throws {
        let dir = try scratch(); defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SafeTensorsFile(contentsOf: Self.fixtures.appendingPathComponent("mdeq-b\(n).safetensors"))
        let sd = dir.appendingPathComponent("twin.safetensors")
        try SafeTensorsWriter.write(tensors: try f.names.filter { !$0.hasPrefix("fixture.") }.map { ($0, try f.float32($0)) }, to: sd)
        let c = try fixtureConfiguration(branches: n)
        let cfg = dir.appendingPathComponent("twin.json")
        try
            "{\"NUM_BRANCHES\": \(n), \"NUM_CHANNELS\": \(c.channels), \"HEAD_CHANNELS\": \(c.headChannels), \"FINAL_CHANSIZE\": \(c.finalChannels), \"EXPANSION_FACTOR\": \(c.expansion), \"NUM_GROUPS\": \(c.groups), \"DOWNSAMPLE_TIMES\": \(c.stemDownsamples), \"NUM_CLASSES\": \(c.classes), \"IMAGE_SIZE\": [\(c.inputHeight), \(c.inputWidth)]}"
            .write(to: cfg, atomically: true, encoding: .utf8)
        var i = ImportJob.Settings(stateDict: sd.path, output: dir.appendingPathComponent("first.safetensors").path)
        i.configFile = cfg.path
        _ = try ImportJob(i).run()
        let first = try #require(try LoadedDEQ(path: i.output).model as? MDEQ)
        let (back, _, _) = try roundTrip(i.output, in: dir)
        let second = try #require(back.model as? MDEQ)
        #expect(second.parameters.values == first.parameters.values)
        let x = try f.float32("fixture.x")
        let got = logits(second, x, iterations: Int(f.metadata["fixture.iterations"]!)!)
        let err = relativeError(got, try f.float32("fixture.logits"))
        #expect(err < 1e-4, "relative error \(err) against PyTorch")
    }

    @Test(arguments: DEQConfiguration.Head.allCases)
    func deqSmallExportImportIsExact(head: DEQConfiguration.Head) throws {
        let dir = try scratch(); defer { try? FileManager.default.removeItem(at: dir) }
        let c = DEQConfiguration(
            inputHeight: 9, inputWidth: 8, inputChannels: 1, classes: 3, channels: 4, expansion: 2, groups: 2, head: head,
            normalizationMean: 0.3, normalizationStd: 0.4)
        let m = try DEQSmall(c, seed: 4)
        perturb(m.parameters, seed: 9)
        let x = images([3, 9, 8, 1], seed: 6)
        let want = logits(m, x)
        // New checkpoints, and (flatten head) old ones with (h, w, c) columns: exported in PyTorch's order.
        let orders: [DEQConfiguration.FlattenOrder] = head == .flatten ? [.channelsFirst, .channelsLast] : [.channelsFirst]
        for order in orders {
            let stored = try m.withFlattenOrder(order)
            let path = dir.appendingPathComponent("d-\(order.rawValue).safetensors").path
            try DEQCheckpoint.save(stored, provenance: provenance("fashion-mnist", sigma: 0.5), optimizer: nil, to: path)
            let (back, sd, json) = try roundTrip(path, in: dir)
            let b = try #require(back.model as? DEQSmall)
            #expect(back.provenance.dataSet == "fashion-mnist" && back.provenance.sigma == 0.5)
            #expect(b.configuration.normalizationMean == c.normalizationMean && b.configuration.normalizationStd == c.normalizationStd)
            #expect(b.configuration.flattenOrder == .channelsFirst && json.contains("\"flattenOrder\":\"chw\""))
            #expect(Set(sd.names) == Set(m.parameters.slots.map(\.name)))
            #expect(b.parameters.values == m.parameters.values, "exported weights are the (c, h, w)-order model's")
            if order == .channelsFirst {
                #expect(logits(b, x).scalars == want.scalars)
            } else {
                #expect(logits(b, x).scalars == logits(stored, x).scalars || relativeError(logits(b, x), logits(stored, x)) < 1e-6)
            }
        }
    }

    /// The twin's legacy-order DEQ-S exports to exactly the twin's PyTorch-order weight.
    @Test func legacyDEQSmallFixtureExportsInPyTorchOrder() throws {
        let dir = try scratch(); defer { try? FileManager.default.removeItem(at: dir) }
        let legacy = Self.fixtures.appendingPathComponent("deqs-legacy.safetensors")
        let pytorch = try SafeTensorsFile(contentsOf: Self.fixtures.appendingPathComponent("deqs-pytorch.safetensors"))
        // The fixtures carry `fixture.*` tensors a checkpoint does not: keep the parameters only.
        let src = try SafeTensorsFile(contentsOf: legacy)
        let path = dir.appendingPathComponent("legacy.safetensors")
        try SafeTensorsWriter.write(
            tensors: try src.names.filter { !$0.hasPrefix("fixture.") }.map { ($0, try src.float32($0)) }, metadata: src.metadata, to: path)
        let (back, sd, _) = try roundTrip(path.path, in: dir)
        #expect(try sd.float32("head.fc.weight").scalars == pytorch.float32("head.fc.weight").scalars)
        let x = try pytorch.float32("fixture.x")
        let err = relativeError(
            logits(back.model, x, iterations: Int(pytorch.metadata["fixture.iterations"]!)!), try pytorch.float32("fixture.logits"))
        #expect(err < 1e-4, "relative error \(err) against PyTorch")
    }

    /// Each refusal is one error naming the problem, and the directory is left as it was.
    @Test func badInputIsRefusedAndNothingIsWritten() throws {
        let dir = try scratch(); defer { try? FileManager.default.removeItem(at: dir) }
        let c = DEQConfiguration(
            inputHeight: 8, inputWidth: 8, inputChannels: 1, classes: 3, channels: 4, expansion: 2, groups: 2, head: .meanPool,
            normalizationMean: 0.3, normalizationStd: 0.4)
        let model = dir.appendingPathComponent("d.safetensors").path
        try DEQCheckpoint.save(try DEQSmall(c), provenance: provenance(), optimizer: nil, to: model)
        let plain = dir.appendingPathComponent("plain.safetensors")
        try SafeTensorsWriter.write(tensors: [("w", Tensor(shape: [2]))], to: plain)
        let generative = dir.appendingPathComponent("ae.safetensors")
        try SafeTensorsWriter.write(tensors: [("w", Tensor(shape: [2]))], metadata: ["equicert.architecture": "latent-autoencoder"], to: generative)
        let existing = dir.appendingPathComponent("exists.safetensors").path
        try Data("keep".utf8).write(to: URL(fileURLWithPath: existing))
        let before = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        func refusal(_ model: String, _ out: String, config: String? = nil, weightNorm: Bool = false) -> String {
            var s = ExportJob.Settings(model: model, output: out)
            s.configOutput = config; s.weightNorm = weightNorm
            do { _ = try ExportJob(s).run() } catch { return "\(error)" }
            Issue.record("export of \(model) → \(out) succeeded")
            return ""
        }
        let out = dir.appendingPathComponent("out.safetensors").path
        #expect(refusal(dir.appendingPathComponent("none.safetensors").path, out).contains("no such file"))
        #expect(refusal(plain.path, out).contains("not an equicert DEQ checkpoint"))
        #expect(refusal(generative.path, out).contains("latent-autoencoder checkpoint"))
        #expect(refusal(model, model).contains("an output must never replace an input"))
        #expect(refusal(model, out, config: model).contains("an output must never replace an input"))
        #expect(refusal(model, out, config: out).contains("config-out"))
        #expect(refusal(model, existing).contains("existing file"))
        #expect(refusal(model, out, config: existing).contains("existing file"))
        #expect(refusal(model, out, weightNorm: true).contains("MDEQ checkpoints only"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == before)
        #expect(try String(contentsOfFile: existing, encoding: .utf8) == "keep")
        // --force replaces.
        var s = ExportJob.Settings(model: model, output: existing)
        s.force = true
        _ = try ExportJob(s).run()
        #expect(try SafeTensorsFile(contentsOf: URL(fileURLWithPath: existing)).names.count == (try DEQSmall(c)).parameters.slots.count)
    }
}
