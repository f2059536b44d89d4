import Certification
import Coordinator
import Datasets
import Distributed
import Equilibrium
// What makes a run's rows: the identity resume and merge compare, and non-finite logits refused by image.
import Foundation
import TensorCore
import Testing

@Suite("Run identity and non-finite logits")
struct RunIdentityTests {
    @Test("firstDifference names the first differing setting in name order, with both values; ignored settings are skipped")
    func differences() {
        let run = RunIdentity(settings: ["sigma": "0.25", "model-sha256": "aa", "shard": "0/2", "n": "100"])
        var now = run
        #expect(now.firstDifference(from: run) == nil)
        #expect(now.hash == run.hash && now.hash.count == 64)
        now.settings["sigma"] = "0.5"
        now.settings["shard"] = "1/2"
        let d = now.firstDifference(from: run, ignoring: ["shard"])
        #expect(d?.name == "sigma" && d?.mine == "0.5" && d?.theirs == "0.25")
        #expect(now.hash != run.hash)
        now.settings["model-sha256"] = "bb"
        #expect(now.firstDifference(from: run)?.name == "model-sha256")
        now.settings.removeValue(forKey: "n")
        #expect(RunIdentity(settings: ["n": "100"]).firstDifference(from: RunIdentity(settings: [:]))?.theirs == "(not recorded)")
    }

    @Test("report merge refuses parts whose manifests differ (not in shard or data directory), naming both parts")
    func mergeCheck() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("runidentity-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = SolverConfig(kind: .naive, maxSteps: 1)
        let config = SmoothingConfiguration(
            sigma: 0.25, n0: 10, n: 20, alpha: 0.01, mode: .standard, solver: s, warmupSolver: s,
            baseSolver: s, auditStages: [], chains: 10, chainsPerBlock: 10, seed: 0)
        func manifest(_ settings: [String: String]) -> RunManifest {
            var m = RunManifest(
                version: "t", status: "complete", command: "", model: "m", modelMetadata: [:], data: "mnist",
                split: "test", skip: 1, max: 0, shard: nil, configuration: config, radiusEstimator: "cohen",
                worldSize: 1, wallSeconds: 0, imagesCertified: 0, samplesPerSecond: 0, ranks: [],
                busySecondsMin: 0, busySecondsMedian: 0, busySecondsMax: 0, rootAggregationSeconds: 0, images: [])
            m.settings = settings
            return m
        }
        let base = ["sigma": "0.25", "model-sha256": "aa", "shard": "0/2", "data-directory": "/a"]
        try manifest(base).write(to: dir + "/a.json")
        try manifest(base.merging(["shard": "1/2", "data-directory": "/b"]) { $1 }).write(to: dir + "/b.json")
        try manifest(base.merging(["sigma": "0.5"]) { $1 }).write(to: dir + "/c.json")
        try RunIdentity.checkMergeable(parts: [dir + "/a.tsv", dir + "/b.tsv", dir + "/none.tsv"])
        #expect {
            try RunIdentity.checkMergeable(parts: [dir + "/a.tsv", dir + "/c.tsv"])
        } throws: { error in
            "\(error)" == "report merge: sigma differs: 0.25 in \(dir)/a.tsv, 0.5 in \(dir)/c.tsv; only parts of one run can be merged"
        }
    }

    @Test("finiteArgmaxRows: −1 for a row holding NaN or ±inf, else the argmax")
    func finiteArgmax() {
        let logits = Tensor(shape: [4, 3], scalars: [0, 2, 1, .nan, 0, 0, 0, .infinity, 1, -1, -3, -2])
        #expect(logits.finiteArgmaxRows() == [1, -1, -1, 0])
        #expect(logits.argmaxRows()[1] == 0, "plain argmax reads class 0 from NaN, which smoothing must not count")
    }

    /// Logits NaN when the first input is above 100 (image 2 of the data), else class 0 or 1 by sign.
    struct NaNAboveClassifier: SmoothableClassifier {
        var classes: Int { 2 }
        var inputShape: [Int] { [2, 2, 1] }
        var supportsSerializedSmoothing: Bool { false }
        func classify(_ x: Tensor, start: Tensor?, solver: SolverConfig) -> ClassifiedBatch {
            let b = x.shape[0], per = x.count / b
            var logits: [Float] = []
            for i in 0..<b {
                let v = x.scalars[i * per]
                logits += v > 100 ? [.nan, .nan] : (v < 0 ? [1, 0] : [0, 1])
            }
            return ClassifiedBatch(
                predictions: Tensor(shape: [b, 2], scalars: logits).finiteArgmaxRows(), state: nil,
                evaluations: 1, diverged: Array(repeating: false, count: b))
        }
    }

    @Test("non-finite logits stop the job with an error naming the image, never votes for class 0")
    func nonFiniteLogitsAreAnError() throws {
        let s = SolverConfig(kind: .naive, maxSteps: 1)
        let config = SmoothingConfiguration(
            sigma: 0.1, n0: 10, n: 20, alpha: 0.01, mode: .standard, solver: s, warmupSolver: s,
            baseSolver: s, auditStages: [], chains: 10, chainsPerBlock: 10, seed: 0)
        // Ten images, the NaN one (9) in the second group of `CertifyJob.orderingGroup` (8) images: the first group is
        // certified before its units start; image 9's first unit is an estimation block (20 samples: long units first).
        let count = 10, nanImage = 9
        var pixels = [Float](repeating: 0.5, count: 4 * count)
        pixels[4 * nanImage] = 1000  // the NaN image's first pixel
        let data = ImageDataset(
            name: "synthetic", images: Tensor(shape: [count, 2, 2, 1], scalars: pixels), labels: Array(repeating: 1, count: count),
            classNames: ["a", "b"], mean: [0], std: [1])
        let job = CertifyJob(
            smoothing: try Smoothing(model: NaNAboveClassifier(), configuration: config), data: data,
            images: Array(0..<count))
        final class Emitted: @unchecked Sendable { let lock = NSLock(); var indices: [Int] = [] }
        let emitted = Emitted()
        #expect(throws: CertificationError.nonFiniteLogits(image: nanImage, samples: 20)) {
            _ = try ThreadGroup.run(size: 1, timeout: 60) { comm in
                try job.run(on: comm) { r in emitted.lock.withLock { emitted.indices.append(r.index) } }
            }
        }
        #expect(
            emitted.indices == Array(0..<CertifyJob<NaNAboveClassifier>.orderingGroup),
            "the groups before the NaN image's are certified; that image never is")
    }
}
