// Recomputing a run's radii from the counts in its manifest gives what the estimator gives on those counts.
import Testing
import Certification
import Coordinator
import Equilibrium
import Reports

@Suite("Radius recomputation from manifest counts")
struct RadiusRecomputationTests {
    static let anderson = SolverConfig(kind: .anderson, maxSteps: 10, tolerance: 0)

    static func manifest(mode: SmoothingMode, images: [RunManifest.ImageCost]) -> RunManifest {
        let config = SmoothingConfiguration(sigma: 0.25, n0: 100, n: 1000, alpha: 0.001, mode: mode,
                                            solver: SolverConfig(kind: .anderson, maxSteps: 1, tolerance: 0),
                                            warmupSolver: anderson, checkSolver: anderson, checkCount: 200,
                                            chains: 100, chainsPerBlock: 50, seed: 0)
        return RunManifest(version: "test", status: "complete", command: "certify", model: "m", modelMetadata: [:],
                           data: "fashion-mnist", split: "test", skip: 1, max: 0, shard: nil, configuration: config,
                           radiusEstimator: mode == .srs ? "paper" : "cohen", worldSize: 1, wallSeconds: 1,
                           imagesCertified: images.count, samplesPerSecond: 1, ranks: [], busySecondsMin: 0,
                           busySecondsMedian: 0, busySecondsMax: 0, rootAggregationSeconds: 0, images: images)
    }

    /// Three classes: class 1 wins 960 of 1000, the K-check agrees 190/200 (class 1) and 3/5 (class 0).
    static func counts() -> SampleCounts {
        var e = SampleCounts(classes: 3)
        e.counts = [30, 960, 10]; e.checkServed = [5, 195, 0]; e.checkAgree = [3, 190, 0]
        e.samples = 1000; e.sampleEvaluations = 3000
        return e
    }

    @Test func srsEstimatorsMatchTheDirectComputation() throws {
        let e = Self.counts()
        let cost = RunManifest.ImageCost(index: 7, sampleEvaluations: 3000, divergedSamples: 0, computeSeconds: 1,
                                         agreement: 0, pALower: 0, selectedClass: 1, estimationCounts: e.words)
        let m = Self.manifest(mode: .srs, images: [cost])
        let report = CertificationReport(path: "x.tsv", rows: [CertificationRow(index: 7, label: 1, prediction: 1, radius: 0.5,
                                                                                microseconds: 1_234_567)])
        for estimator in RadiusEstimator.allCases {
            let (rows, out) = try RadiusRecomputation.recompute(report: report, manifest: m, reportPath: "x.tsv",
                                                                estimator: estimator, alpha: nil)
            let direct = try CertificateEstimator.serialized(selected: 1, estimation: e, sigma: 0.25, alpha: 0.001, estimator: estimator)
            #expect(rows.count == 1 && rows[0].prediction == 1 && rows[0].microseconds == 1_234_567)
            #expect(abs(rows[0].radius - direct.radius) < 1e-12 && direct.radius > 0)
            #expect(out.radiusEstimator == estimator.rawValue && out.configuration.radius == estimator)
        }
        // A smaller α gives a smaller radius; the paper estimator (agreement bound on both factors) is below reference-code.
        let paper = try RadiusRecomputation.recompute(report: report, manifest: m, reportPath: "x.tsv", estimator: .paper, alpha: nil).0[0]
        let strict = try RadiusRecomputation.recompute(report: report, manifest: m, reportPath: "x.tsv", estimator: .paper, alpha: 1e-6).0[0]
        let reference = try RadiusRecomputation.recompute(report: report, manifest: m, reportPath: "x.tsv", estimator: .referenceCode, alpha: nil).0[0]
        #expect(strict.radius < paper.radius && paper.radius < reference.radius)
    }

    @Test func refusesWhatCannotBeRecomputed() throws {
        let report = CertificationReport(path: "x.tsv", rows: [CertificationRow(index: 7, label: 1, prediction: 1, radius: 0.5,
                                                                                microseconds: 1)])
        let old = RunManifest.ImageCost(index: 7, sampleEvaluations: 1, divergedSamples: 0, computeSeconds: 1, agreement: 1, pALower: 0.9)
        #expect(throws: CoordinatorError.self) {   // an older manifest without counts
            _ = try RadiusRecomputation.recompute(report: report, manifest: Self.manifest(mode: .srs, images: [old]),
                                                  reportPath: "x.tsv", estimator: .referenceCode, alpha: nil)
        }
        let cost = RunManifest.ImageCost(index: 7, sampleEvaluations: 1, divergedSamples: 0, computeSeconds: 1, agreement: 1,
                                         pALower: 0.9, selectedClass: 1, estimationCounts: Self.counts().words)
        #expect(throws: CoordinatorError.self) {   // estimators are an SRS notion
            _ = try RadiusRecomputation.recompute(report: report, manifest: Self.manifest(mode: .standard, images: [cost]),
                                                  reportPath: "x.tsv", estimator: .paper, alpha: nil)
        }
        #expect(throws: CoordinatorError.self) {
            _ = try RadiusRecomputation.recompute(report: report, manifest: Self.manifest(mode: .srs, images: [cost]),
                                                  reportPath: "x.tsv", estimator: nil, alpha: 1.5)
        }
        // Standard runs can be recomputed at another α (Cohen's radius).
        let (rows, _) = try RadiusRecomputation.recompute(report: report, manifest: Self.manifest(mode: .standard, images: [cost]),
                                                          reportPath: "x.tsv", estimator: nil, alpha: 0.01)
        #expect(rows[0].prediction == 1 && rows[0].radius > 0)
    }
}
