import Coordinator
import Datasets
import Equilibrium
import Foundation
import NeuralNet
import TensorCore
import Testing

/// `equicert import` and the MDEQ checkpoint path, on the PyTorch twin's fixtures (Scripts/gen-mdeq-fixtures.py):
/// the imported checkpoint's logits equal PyTorch's; bad input is refused naming the tensor or field, writing nothing.
@Suite("equicert import of PyTorch MDEQs")
struct MDEQImportTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../EquilibriumTests/Fixtures").standardizedFileURL

    /// A scratch directory removed by the caller.
    func scratch() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("mdeq-import-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    /// The fixture's raw state_dict written as a PyTorch user's safetensors (no metadata), optionally edited.
    func stateDictFile(
        branches n: Int, in dir: URL, edit: (inout [String: Tensor]) -> Void = { _ in }
    ) throws -> (path: String, fixture: SafeTensorsFile) {
        let f = try SafeTensorsFile(contentsOf: Self.fixtures.appendingPathComponent("mdeq-b\(n).safetensors"))
        var d: [String: Tensor] = [:]
        for name in f.names where !name.hasPrefix("fixture.") { d[name] = try f.float32(name) }
        edit(&d)
        let url = dir.appendingPathComponent("state_dict-b\(n)-\(UUID().uuidString).safetensors")
        try SafeTensorsWriter.write(tensors: d.keys.sorted().map { ($0, d[$0]!) }, to: url)
        return (url.path, f)
    }

    /// The configuration of the fixture with `n` branches as the public YAML keys (section headers, comments).
    func yaml(branches n: Int, fixture f: SafeTensorsFile) throws -> String {
        let c = try MDEQConfiguration.fromJSON(f.metadata["equicert.architecture"]!, path: f.path)
        return """
            MODEL:
              NAME: mdeq   # ignored
              NUM_CLASSES: \(c.classes)
              IMAGE_SIZE: [\(c.inputHeight), \(c.inputWidth)]
              EXTRA:
                FULL_STAGE:
                  NUM_BRANCHES: \(n)
                  NUM_CHANNELS: [\(c.channels.map(String.init).joined(separator: ", "))]
                  HEAD_CHANNELS: [\(c.headChannels.map(String.init).joined(separator: ", "))]
                  FINAL_CHANSIZE: \(c.finalChannels)
                  EXPANSION_FACTOR: \(c.expansion)
                  NUM_GROUPS: \(c.groups)
              DOWNSAMPLE_TIMES: \(c.stemDownsamples)
            TRAIN:
              LR: 0.001
            """
    }

    @Test(arguments: [1, 2, 3, 4])
    func importedCheckpointMatchesPyTorchLogits(branches n: Int) throws {
        let dir = try scratch(); defer { try? FileManager.default.removeItem(at: dir) }
        let (sd, f) = try stateDictFile(branches: n, in: dir)
        let cfg = dir.appendingPathComponent("cfg.yaml")
        try yaml(branches: n, fixture: f).write(to: cfg, atomically: true, encoding: .utf8)
        var s = ImportJob.Settings(stateDict: sd, output: dir.appendingPathComponent("m.safetensors").path)
        s.configFile = cfg.path; s.sigma = 0.25
        _ = try ImportJob(s).run()
        #expect(CheckpointKind.detect(s.output) == .mdeq)
        let loaded = try LoadedDEQ(path: s.output)
        #expect(loaded.family == .mdeq && loaded.inputShape == [16, 16, 3] && loaded.provenance.sigma == 0.25)
        let m = try #require(loaded.model as? MDEQ)
        #expect(m.configuration == (try MDEQConfiguration.fromJSON(f.metadata["equicert.architecture"]!, path: f.path)))
        let x = try f.float32("fixture.x")
        let (inj, _) = m.inject(x)
        var z = m.zeroState(batch: x.shape[0])
        for _ in 0..<Int(f.metadata["fixture.iterations"]!)! { z = m.map(z, inj) }
        let want = try f.float32("fixture.logits"), got = m.head(z).logits
        let err = zip(got.scalars, want.scalars).map { abs($0 - $1) }.max()! / want.maxAbs()
        #expect(err < 1e-4, "relative error \(err)")
    }

    /// Each refusal names what is wrong and leaves no output file.
    @Test func badInputIsRefusedNamingTheTensorOrFieldAndNothingIsWritten() throws {
        let dir = try scratch(); defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("m.safetensors").path
        func refusal(_ sd: String, config: String, preset: String? = nil) throws -> String {
            let cfg = dir.appendingPathComponent("cfg-\(UUID().uuidString).yaml")
            try config.write(to: cfg, atomically: true, encoding: .utf8)
            var s = ImportJob.Settings(stateDict: sd, output: out)
            s.configFile = cfg.path; s.preset = preset
            do { _ = try ImportJob(s).run() } catch { return "\(error)" }
            Issue.record("import succeeded")
            return ""
        }
        let (good, f) = try stateDictFile(branches: 2, in: dir)
        let cfg = try yaml(branches: 2, fixture: f)
        let (extra, _) = try stateDictFile(branches: 2, in: dir) { $0["fullstage.extra_layer.weight"] = Tensor(shape: [3]) }
        let (both, _) = try stateDictFile(branches: 2, in: dir) { $0["fullstage.post_fuse_layers.0.conv.weight"] = Tensor(shape: [4, 4, 1, 1]) }
        #expect(try refusal(both, config: cfg).contains("fullstage.post_fuse_layers.0.conv.weight"))
        let extraRefusal = try refusal(extra, config: cfg)
        #expect(extraRefusal.contains("fullstage.extra_layer.weight"), "\(extraRefusal)")
        let (missing, _) = try stateDictFile(branches: 2, in: dir) { $0["classifier.bias"] = nil }
        #expect(try refusal(missing, config: cfg).contains("classifier.bias"))
        let (misshapen, _) = try stateDictFile(branches: 2, in: dir) {
            $0["fullstage.fuse_layers.0.1.net.conv.weight"] = Tensor(shape: [4, 8, 3, 3])
        }
        #expect(try refusal(misshapen, config: cfg).contains("fullstage.fuse_layers.0.1.net.conv.weight"))
        #expect(
            try refusal(good, config: cfg.replacingOccurrences(of: "NUM_CHANNELS: [4, 8]", with: "NUM_CHANNELS: [8, 8]")).contains("field 'channels'")
        )
        #expect(
            try refusal(good, config: cfg.replacingOccurrences(of: "HEAD_CHANNELS: [2, 4]", with: "HEAD_CHANNELS: [2, 8]")).contains(
                "field 'headChannels'"))
        #expect(try refusal(good, config: cfg.replacingOccurrences(of: "NUM_CLASSES: 5", with: "NUM_CLASSES: 10")).contains("field 'classes'"))
        #expect(
            try refusal(good, config: cfg.replacingOccurrences(of: "FINAL_CHANSIZE: 16", with: "FINAL_CHANSIZE: 32")).contains(
                "field 'finalChannels'"))
        #expect(
            try refusal(good, config: cfg.replacingOccurrences(of: "EXPANSION_FACTOR: 2", with: "EXPANSION_FACTOR: 5")).contains("field 'expansion'"))
        #expect(try refusal(good, config: cfg.replacingOccurrences(of: "NUM_BRANCHES: 2", with: "NUM_BRANCHES: 5")).contains("field 'branches'"))
        #expect(try refusal(good, config: cfg.replacingOccurrences(of: "NUM_BRANCHES: 2", with: "NUM_BRANCHES: 1")).contains("field 'branches'"))
        #expect(try refusal(good, config: cfg.replacingOccurrences(of: "NUM_GROUPS: 2", with: "NUM_GROUPS: x")).contains("field 'groups'"))
        #expect(try refusal(good, config: "", preset: "huge").contains("huge"))
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).allSatisfy { !$0.hasPrefix(".m.safetensors") })
    }

    /// `--outputs`: one row per image with its label, the argmax class, the residual, steps and every logit, equal to a
    /// direct solve; written atomically (no temporary left).
    @Test func perImageOutputsHoldClassResidualAndLogits() throws {
        let dir = try scratch(); defer { try? FileManager.default.removeItem(at: dir) }
        let (sd, f) = try stateDictFile(branches: 2, in: dir)
        let cfg = dir.appendingPathComponent("cfg.yaml")
        try yaml(branches: 2, fixture: f).write(to: cfg, atomically: true, encoding: .utf8)
        var s = ImportJob.Settings(stateDict: sd, output: dir.appendingPathComponent("m.safetensors").path)
        s.configFile = cfg.path
        _ = try ImportJob(s).run()
        let m = try #require(try LoadedDEQ(path: s.output).model as? MDEQ)
        var rng = SplitMix64(seed: 7)
        let images = Tensor(shape: [6, 16, 16, 3], scalars: (0..<(6 * 768)).map { _ in Float(rng.next() % 1000) / 999 })
        let data = ImageDataset(
            name: "t", images: images, labels: [0, 1, 2, 3, 4, 0], classNames: (0..<5).map(String.init),
            mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
        let solver = SolverConfig(kind: .anderson, maxSteps: 20, tolerance: 1e-3, stopMode: .relative)
        let path = dir.appendingPathComponent("out/out.tsv").path
        try PerImageOutputs.write(model: m, data: data, images: [4, 1, 5], solver: solver, to: path)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        #expect(
            lines.count == 4 && lines[0] == ["idx", "label", "class", "residual", "steps", "logit_0", "logit_1", "logit_2", "logit_3", "logit_4"])
        let (x, _) = data.batch([4, 1, 5])
        let (logits, _, stats) = m.classify(x, solver: solver)
        for (r, i) in [4, 1, 5].enumerated() {
            let row = lines[r + 1]
            #expect(row[0] == "\(i)" && row[1] == "\(data.labels[i])")
            let l = row[5...].map { Float($0)! }
            #expect(l == Array(logits.scalars[(r * 5)..<(r * 5 + 5)]))
            #expect(Int(row[2]) == logits.argmaxRows()[r])
            #expect(abs(Float(row[3])! - stats.finalRelativeResidual[r]) <= 1e-6 * max(1, stats.finalRelativeResidual[r]))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("out").path) == ["out.tsv"])
    }

    /// `--data cifar10 --data-dir DIR` reads the CIFAR-10 binary batches (generated here: this machine has no CIFAR):
    /// labels, channel planes to channels-last, both splits; a missing directory names the file it looked for.
    @Test func cifar10FromADataDirectory() throws {
        let dir = try scratch(); defer { try? FileManager.default.removeItem(at: dir) }
        func records(_ n: Int, offset: Int) -> Data {
            var d = Data()
            for r in 0..<n {
                d.append(UInt8((r + offset) % 10))
                for c in 0..<3 { for p in 0..<1024 { d.append(UInt8((r * 7 + c * 50 + p) % 256)) } }
            }
            return d
        }
        for b in 1...5 { try records(3, offset: b).write(to: dir.appendingPathComponent("data_batch_\(b).bin")) }
        try records(4, offset: 0).write(to: dir.appendingPathComponent("test_batch.bin"))
        let source = try ImageDataSource(parsing: "cifar10")
        let test = try source.load(split: .test, directory: dir.path)
        let train = try source.load(split: .train, directory: dir.path)
        #expect(test.count == 4 && train.count == 15 && test.imageShape == [32, 32, 3] && test.classCount == 10)
        #expect(test.labels == [0, 1, 2, 3] && Array(train.labels.prefix(3)) == [1, 2, 3])
        // Image 1, row 0, column 2, channel 1 (green): byte (1·7 + 1·50 + 2) mod 256.
        #expect(test.images.scalars[(1 * 1024 + 2) * 3 + 1] == Float((7 + 50 + 2) % 256) / 255)
        #expect(throws: (any Error).self) { try source.load(split: .test, directory: dir.appendingPathComponent("none").path) }
    }
}
