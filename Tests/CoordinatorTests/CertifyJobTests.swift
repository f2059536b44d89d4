import Certification
import Coordinator
import Datasets
import Distributed
import Equilibrium
// The certify job over in-process rank groups of 1–4: identical certificates and counts at every size.
import Foundation
import TensorCore
import Testing
import _TestSupport

@Suite("Certify job across ranks", .serialized)
struct CertifyJobTests {
    static func job(mode: SmoothingMode) throws -> CertifyJob<EquilibriumClassifier<DEQSmall>> {
        let c = DEQConfiguration(
            inputHeight: 8, inputWidth: 8, inputChannels: 1, classes: 3, channels: 4, expansion: 1,
            groups: 2, normalizationMean: 0.5, normalizationStd: 0.3)
        let model = try DEQSmall(c, seed: 4)
        let anderson = SolverConfig(kind: .anderson, maxSteps: 6, tolerance: 1e-3, stopMode: .relative)
        let config = SmoothingConfiguration(
            sigma: 0.3, n0: 20, n: 80, alpha: 0.05, mode: mode,
            solver: mode == .srs ? SolverConfig(kind: .anderson, maxSteps: 1, tolerance: 0) : anderson,
            warmupSolver: anderson, baseSolver: anderson, auditStages: [20, 50],
            auditEscalation: 0.5, chains: 20, chainsPerBlock: 10, seed: 11)
        var r = TestRandom(seed: 2)
        let data = ImageDataset(
            name: "synthetic", images: r.tensor([5, 8, 8, 1], 0, 1), labels: [0, 1, 2, 1, 0],
            classNames: ["a", "b", "c"], mean: [0.5], std: [0.3])
        return CertifyJob(
            smoothing: try Smoothing(model: EquilibriumClassifier(model), configuration: config), data: data,
            images: CertifyImages.selectImages(count: 5, skip: 1, max: 0))
    }

    struct Row: Sendable, Equatable {
        var index: Int, certificate: Certificate, selection: SampleCounts, estimation: SampleCounts
        var record: SerializedRecord?, stagesRun: Int
    }

    @Test(arguments: [SmoothingMode.standard, .srs])
    func identicalResultsAtAnyRankCount(mode: SmoothingMode) throws {
        let job = try Self.job(mode: mode)
        var reference: [Row]? = nil
        for size in 1...4 {
            let perRank = try ThreadGroup.run(size: size, timeout: 120) { comm -> [Row] in
                var rows: [Row] = []
                _ = try job.run(on: comm) { r in
                    rows.append(
                        Row(
                            index: r.index, certificate: r.certificate, selection: r.selection, estimation: r.estimation,
                            record: r.record, stagesRun: r.auditStagesRun))
                }
                return rows
            }
            let rows = perRank[0]
            #expect(perRank.dropFirst().allSatisfy { $0.isEmpty }, "only the root emits")
            #expect(rows.map(\.index) == [0, 1, 2, 3, 4], "image order at size \(size)")
            #expect(rows.allSatisfy { $0.estimation.samples == 80 && $0.selection.samples == 20 })
            if mode == .srs {
                // The adaptive audit ran its second stage where N_A ≥ 0.5·N, and only there; the records are complete.
                #expect(
                    rows.allSatisfy { r in
                        let escalate = r.estimation.counts[r.selection.topClass] >= 40
                        return r.stagesRun == (escalate ? 2 : 1) && r.record?.audited.count == (escalate ? 50 : 20)
                            && r.record?.serialized.count == 80
                    })
                #expect(rows.contains { $0.stagesRun == 2 }, "some image should escalate")
                // The same certificates as the single-process CERTIFY.
                let single = try rows.map {
                    try job.smoothing.certify(
                        image: job.data.images.slice(rows: $0.index..<($0.index + 1)).reshaped(job.data.imageShape), index: $0.index)
                }
                #expect(zip(rows, single).allSatisfy { $0.certificate == $1.certificate && $0.record == $1.record })
            }
            if let reference { #expect(rows == reference, "size \(size) differs from size 1") } else { reference = rows }
        }
    }

    @Test func imageSelectionSkipMaxShardAndResume() {
        #expect(CertifyImages.selectImages(count: 100, skip: 20, max: 0) == [0, 20, 40, 60, 80])
        #expect(CertifyImages.selectImages(count: 100, skip: 20, max: 3) == [0, 20, 40])
        #expect(CertifyImages.selectImages(count: 100, skip: 20, max: 0, shard: 1, shards: 2) == [20, 60])
        #expect(CertifyImages.selectImages(count: 100, skip: 20, max: 0, done: [0, 40]) == [20, 60, 80])
        let parts = (0..<3).flatMap { CertifyImages.selectImages(count: 50, skip: 3, max: 0, shard: $0, shards: 3) }
        #expect(parts.sorted() == CertifyImages.selectImages(count: 50, skip: 3, max: 0))
    }
}

/// A "DEQ" whose from-zero solves by Broyden (the base solver below) all diverge; other solves are fine.
private struct BaseDivergesClassifier: SmoothableClassifier {
    var classes: Int { 2 }
    var inputShape: [Int] { [2, 2, 1] }
    var supportsSerializedSmoothing: Bool { true }
    func classify(_ x: Tensor, start: Tensor?, solver: SolverConfig) -> ClassifiedBatch {
        let b = x.shape[0]
        return ClassifiedBatch(
            predictions: Array(repeating: 0, count: b), state: x, evaluations: 1,
            diverged: Array(repeating: start == nil && solver.kind == .broyden, count: b))
    }
}

@Test("A base classifier that diverges on every audited solve is a clear error naming the image, not a certificate")
func divergingBaseClassifierIsRefused() throws {
    let s = SolverConfig(kind: .naive, maxSteps: 1), base = SolverConfig(kind: .broyden, maxSteps: 3)
    let config = SmoothingConfiguration(
        sigma: 0.5, n0: 10, n: 40, alpha: 0.01, mode: .srs, solver: s, warmupSolver: s,
        baseSolver: base, auditStages: [10], chains: 10, chainsPerBlock: 10, seed: 1)
    let data = ImageDataset(
        name: "synthetic", images: Tensor(shape: [2, 2, 2, 1]), labels: [0, 1], classNames: ["a", "b"],
        mean: [0], std: [1])
    let job = CertifyJob(smoothing: try Smoothing(model: BaseDivergesClassifier(), configuration: config), data: data, images: [0, 1])
    var emitted = 0
    #expect(throws: CertificationError.baseClassifierDiverged(image: 0, samples: 10)) {
        _ = try job.run(on: SingleProcessCommunicator()) { _ in emitted += 1 }
    }
    #expect(emitted == 0)
}
