import Certification
import Coordinator
import Equilibrium
// Recomputing a run's radii from the counts in its manifest gives what the estimator gives on those counts.
import Foundation
import Reports
import Statistics
import Testing

@Suite("Radius recomputation from manifest counts")
struct RadiusRecomputationTests {
    static let anderson = SolverConfig(kind: .anderson, maxSteps: 10, tolerance: 0)

    static func manifest(mode: SmoothingMode, images: [RunManifest.ImageCost]) -> RunManifest {
        let config = SmoothingConfiguration(
            sigma: 0.25, n0: 100, n: 1000, alpha: 0.001, mode: mode,
            solver: SolverConfig(kind: .anderson, maxSteps: 1, tolerance: 0),
            warmupSolver: anderson, baseSolver: anderson, auditStages: [200],
            chains: 100, chainsPerBlock: 50, seed: 0)
        return RunManifest(
            version: "test", status: "complete", command: "certify", model: "m", modelMetadata: [:],
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

    /// A record for 1,000 samples: class 1 on 960 (ĉA); the base classifier disagrees on every 25th audited one.
    static func record(_ config: SmoothingConfiguration, audited: Int) -> SerializedRecord {
        var serialized = [UInt8](repeating: 1, count: 1000)
        for i in 0..<30 { serialized[i] = 0 }
        for i in 30..<40 { serialized[i] = 2 }
        let positions = config.auditPositions(image: 7, count: audited)
        return SerializedRecord(
            serialized: serialized,
            audited: positions.enumerated().map { $0.offset % 25 == 0 ? 0 : serialized[$0.element] })
    }

    @Test func srsEstimatorsMatchTheDirectComputationAndDropStages() throws {
        let e = Self.counts()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("radius-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let reportPath = dir.appendingPathComponent("x.tsv").path
        var m = Self.manifest(mode: .srs, images: [])
        m.configuration.auditStages = [200, 600]
        m.configuration.radius = .audit
        let record = Self.record(m.configuration, audited: 600)
        let log = try StoredRecord.open(path: StoredRecord.path(forReport: reportPath), resume: false)
        try log.append(StoredRecord(index: 7, selectedClass: 1, record: record))
        log.close()
        m.records = "x.records.jsonl"
        m.images = [
            RunManifest.ImageCost(
                index: 7, sampleEvaluations: 9000, divergedSamples: 0, computeSeconds: 3,
                agreement: 0, pALower: 0, selectedClass: 1, estimationCounts: e.words,
                auditStagesRun: 2, auditStageEvaluations: [1000, 2000], auditStageSeconds: [0.5, 1.0])
        ]
        let report = CertificationReport(
            path: reportPath,
            rows: [
                CertificationRow(
                    index: 7, label: 1, prediction: 1, radius: 0.5,
                    microseconds: 3_000_000)
            ])
        let positions = m.configuration.auditPositions(image: 7, count: 600)
        for estimator in [RadiusEstimator.audit, .paper, .referenceCode] {
            let (rows, out) = try RadiusRecomputation.recompute(
                report: report, manifest: m, reportPath: reportPath,
                estimator: estimator, alpha: nil)
            var c = m.configuration
            c.radius = estimator
            let direct = try SerializedCertificate.compute(
                selected: 1, estimation: e, record: record, positions: positions,
                configuration: c
            ).certificate
            #expect(rows.count == 1 && rows[0].prediction == 1 && rows[0].microseconds == 3_000_000)
            #expect(abs(rows[0].radius - direct.radius) < 1e-12 && direct.radius > 0, "\(estimator)")
            #expect(out.radiusEstimator == estimator.rawValue && out.configuration.radius == estimator)
            #expect(out.radiusIsSound == (estimator == .audit) && out.baseClassifier?.contains("anderson") == true)
        }
        // Only the first stage: the second stage's cost is taken off, the radius is K = 200's.
        let (first, out) = try RadiusRecomputation.recompute(
            report: report, manifest: m, reportPath: reportPath, estimator: nil,
            alpha: nil, auditStages: [200])
        var c = m.configuration
        c.auditStages = [200]
        let direct = try SerializedCertificate.compute(
            selected: 1, estimation: e, record: SerializedRecord(serialized: record.serialized, audited: Array(record.audited.prefix(200))),
            positions: Array(positions.prefix(200)), configuration: c
        ).certificate
        #expect(abs(first[0].radius - direct.radius) < 1e-12 && first[0].microseconds == 2_000_000)
        #expect(out.images[0].sampleEvaluations == 7000 && out.images[0].auditStagesRun == 1 && out.configuration.auditStages == [200])
        #expect(throws: CoordinatorError.self) {  // not a prefix of the run's stages
            _ = try RadiusRecomputation.recompute(report: report, manifest: m, reportPath: reportPath, estimator: nil, alpha: nil, auditStages: [300])
        }
        // A smaller α gives a smaller radius.
        let strict = try RadiusRecomputation.recompute(report: report, manifest: m, reportPath: reportPath, estimator: nil, alpha: 1e-6).0[0]
        let loose = try RadiusRecomputation.recompute(report: report, manifest: m, reportPath: reportPath, estimator: nil, alpha: nil).0[0]
        #expect(strict.radius < loose.radius)
    }

    @Test func refusesWhatCannotBeRecomputed() throws {
        let report = CertificationReport(
            path: "x.tsv",
            rows: [
                CertificationRow(
                    index: 7, label: 1, prediction: 1, radius: 0.5,
                    microseconds: 1)
            ])
        let old = RunManifest.ImageCost(index: 7, sampleEvaluations: 1, divergedSamples: 0, computeSeconds: 1, agreement: 1, pALower: 0.9)
        #expect(throws: CoordinatorError.self) {  // an older manifest without counts
            _ = try RadiusRecomputation.recompute(
                report: report, manifest: Self.manifest(mode: .standard, images: [old]),
                reportPath: "x.tsv", estimator: nil, alpha: 0.01)
        }
        #expect(throws: CoordinatorError.self) {  // an SRS manifest without per-image records
            _ = try RadiusRecomputation.recompute(
                report: report, manifest: Self.manifest(mode: .srs, images: [old]),
                reportPath: "x.tsv", estimator: .referenceCode, alpha: nil)
        }
        let cost = RunManifest.ImageCost(
            index: 7, sampleEvaluations: 1, divergedSamples: 0, computeSeconds: 1, agreement: 1,
            pALower: 0.9, selectedClass: 1, estimationCounts: Self.counts().words)
        #expect(throws: CoordinatorError.self) {  // paper is an SRS estimator
            _ = try RadiusRecomputation.recompute(
                report: report, manifest: Self.manifest(mode: .standard, images: [cost]),
                reportPath: "x.tsv", estimator: .paper, alpha: nil)
        }
        #expect(throws: CoordinatorError.self) {
            _ = try RadiusRecomputation.recompute(
                report: report, manifest: Self.manifest(mode: .srs, images: [cost]),
                reportPath: "x.tsv", estimator: nil, alpha: 1.5)
        }
        // Standard runs can be recomputed at another α (Cohen's radius).
        let (rows, _) = try RadiusRecomputation.recompute(
            report: report, manifest: Self.manifest(mode: .standard, images: [cost]),
            reportPath: "x.tsv", estimator: nil, alpha: 0.01)
        #expect(rows[0].prediction == 1 && rows[0].radius > 0)
    }
}

@Test("Over-claim check: a radius above σ·Φ⁻¹(CP_upper) of the reference's counts is flagged, one at or below it is not")
func overClaimCheckFlagsRadiiAboveTheReference() throws {
    var e = SampleCounts(classes: 3)
    e.counts = [30, 960, 10]; e.samples = 1000
    let cost = RunManifest.ImageCost(
        index: 7, sampleEvaluations: 1, divergedSamples: 0, computeSeconds: 1, agreement: 1,
        pALower: 0.9, selectedClass: 1, estimationCounts: e.words)
    let m = RadiusRecomputationTests.manifest(mode: .standard, images: [cost])
    let upper = try ClopperPearson.upperBound(successes: 960, trials: 1000, alpha: 0.001)
    let ceiling = 0.25 * Normal.quantile(upper)
    func rows(_ radius: Double, _ prediction: Int = 1) -> [CertificationRow] {
        [CertificationRow(index: 7, label: 1, prediction: prediction, radius: radius, microseconds: 1)]
    }
    #expect(try OverClaimCheck.check(rows: rows(ceiling * 0.99), reference: m, referencePath: "r.tsv").overClaims.isEmpty)
    #expect(try OverClaimCheck.check(rows: rows(ceiling * 1.05), reference: m, referencePath: "r.tsv").overClaims == [7])
    // Another class than the reference's majority: its counts (30 of 1000) allow no radius at all.
    #expect(try OverClaimCheck.check(rows: rows(0.1, 0), reference: m, referencePath: "r.tsv").overClaims == [7])
    // Abstentions are not claims.
    #expect(
        try OverClaimCheck.check(
            rows: [CertificationRow.abstention(index: 7, label: 1, seconds: 1)], reference: m,
            referencePath: "r.tsv"
        ).compared == 0)
}

@Test("Serialized bias: serialized rate of ĉA minus the audited base rate, over all images and the contested ones")
func serializedBiasIsTheRateDifference() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bias-\(UInt64.random(in: 0...UInt64.max))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("x.records.jsonl").path
    let log = try StoredRecord.open(path: path, resume: false)
    // Image 0: unanimous, no bias. Image 1: serialized 95 % on class 2, base 80 % on the audit → +15 points.
    try log.append(
        StoredRecord(
            index: 0, selectedClass: 1,
            record: SerializedRecord(
                serialized: [UInt8](repeating: 1, count: 100),
                audited: [UInt8](repeating: 1, count: 10))))
    try log.append(
        StoredRecord(
            index: 1, selectedClass: 2,
            record: SerializedRecord(
                serialized: [UInt8](repeating: 2, count: 95) + [0, 0, 0, 0, 0],
                audited: [UInt8](repeating: 2, count: 8) + [1, 1])))
    log.close()
    let b = try SerializedBias.measure(recordsPath: path)
    #expect(b.images == 2 && b.contestedImages == 1)
    #expect(abs(b.contestedMeanPoints - 15) < 1e-9 && abs(b.meanPoints - 7.5) < 1e-9)
}
