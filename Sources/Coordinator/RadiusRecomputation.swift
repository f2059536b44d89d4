import Certification
import Foundation
import Reports

/// Recompute the radii of a finished certification run from what it kept — ĉA and the estimation counts of every
/// image (manifest) and, for SRS, every image's serialized classes and audited base classes (`x.records.jsonl`) —
/// with another radius estimator, α, or a prefix of the audit's stages: the samples are the same, only the
/// statistics change, so comparing audit, paper and reference-code costs no second run.
public enum RadiusRecomputation {
    /// Rows of `report` (in its order) with radii from `estimator` at `alpha` using the audit stages `auditStages`
    /// (each nil: the run's), and the manifest describing them. With fewer audit stages than the run, the cost
    /// (f-evaluations, and the time column) of the dropped stages is taken off: the rows are what a run with those
    /// stages would have written.
    public static func recompute(
        report: CertificationReport, manifest: RunManifest, reportPath: String,
        estimator: RadiusEstimator?, alpha: Double?, auditStages: [Int]? = nil
    ) throws -> ([CertificationRow], RunManifest) {
        var config = manifest.configuration
        let manifestPath = RunManifest.path(forReport: reportPath)
        guard manifest.status == "complete" || manifest.images.count >= report.rows.count else {
            throw CoordinatorError.checkpoint(path: reportPath, reason: "its manifest has fewer images than the report")
        }
        if let alpha {
            guard alpha > 0, alpha < 1 else {
                throw CoordinatorError.invalidOption(name: "alpha", value: "\(alpha)", reason: "must be in (0, 1)")
            }
            config.alpha = alpha
        }
        if let estimator {
            guard RadiusEstimator.allowed(in: config.mode).contains(estimator) else {
                throw CoordinatorError.invalidOption(
                    name: "radius", value: estimator.rawValue,
                    reason:
                        "\(reportPath) is a \(config.mode.rawValue)-mode run: its radius is \(RadiusEstimator.allowed(in: config.mode).map(\.rawValue).joined(separator: ", "))"
                )
            }
            config.radius = estimator
        }
        var droppedStages = 0
        if let auditStages {
            let run = config.auditStages
            guard config.mode == .srs, !auditStages.isEmpty, auditStages.count <= run.count, Array(run.prefix(auditStages.count)) == auditStages
            else {
                throw CoordinatorError.invalidOption(
                    name: "audit", value: auditStages.map(String.init).joined(separator: ","),
                    reason: "must be a prefix of the run's audit stages (\(run.map(String.init).joined(separator: ",")))")
            }
            droppedStages = run.count - auditStages.count
            config.auditStages = auditStages
        }
        var records: [Int: StoredRecord] = [:]
        var recordsPath = ""
        if config.mode == .srs {
            guard let name = manifest.records else {
                throw CoordinatorError.checkpoint(
                    path: manifestPath,
                    reason: "names no per-image record file (SRS runs before the audit cannot be recomputed)")
            }
            recordsPath = name.hasPrefix("/") ? name : URL(fileURLWithPath: reportPath).deletingLastPathComponent().appendingPathComponent(name).path
            records = try ImageLineLog<StoredRecord>.read(recordsPath, index: \.index)
        }
        let costs = Dictionary(manifest.images.map { ($0.index, $0) }, uniquingKeysWith: { _, last in last })
        var rows: [CertificationRow] = []
        var images: [RunManifest.ImageCost] = []
        for row in report.rows {
            guard var cost = costs[row.index], let cA = cost.selectedClass, let words = cost.estimationCounts else {
                throw CoordinatorError.checkpoint(
                    path: manifestPath,
                    reason: "no counts for image \(row.index) (runs before counts were kept in the manifest cannot be recomputed)")
            }
            let k = (words.count - 3) / 3
            guard words.count == 3 * k + 3, k >= 2, (0..<k).contains(cA) else {
                throw CoordinatorError.checkpoint(path: manifestPath, reason: "image \(row.index) has \(words.count) count words, not 3·classes + 3")
            }
            let e = SampleCounts(words: words, classes: k)
            let cert: Certificate
            var microseconds = row.microseconds
            if config.mode == .standard {
                cert = try CertificateEstimator.standard(selected: cA, estimation: e, sigma: Double(config.sigma), alpha: config.alpha)
            } else {
                guard let stored = records[row.index], stored.selectedClass == cA else {
                    throw CoordinatorError.checkpoint(
                        path: recordsPath, reason: "no record of image \(row.index) (or another ĉA than the manifest's)")
                }
                var record = try stored.record(path: recordsPath)
                if droppedStages > 0 {
                    let kept = config.auditStages.last!
                    let run = cost.auditStagesRun ?? 0
                    if run > config.auditStages.count {
                        let dropEvaluations = (cost.auditStageEvaluations ?? []).dropFirst(config.auditStages.count).reduce(0, +)
                        let dropSeconds = (cost.auditStageSeconds ?? []).dropFirst(config.auditStages.count).reduce(0, +)
                        cost.sampleEvaluations -= dropEvaluations
                        cost.computeSeconds -= dropSeconds
                        microseconds = Swift.max(0, microseconds - Int64((dropSeconds * 1e6).rounded()))
                        cost.auditStageEvaluations = Array((cost.auditStageEvaluations ?? []).prefix(config.auditStages.count))
                        cost.auditStageSeconds = Array((cost.auditStageSeconds ?? []).prefix(config.auditStages.count))
                        cost.auditStagesRun = config.auditStages.count
                    }
                    record.audited = Array(record.audited.prefix(kept))
                }
                let r = try SerializedCertificate.compute(
                    selected: cA, estimation: e, record: record,
                    positions: config.auditPositions(image: row.index, count: record.audited.count),
                    configuration: config)
                cert = r.certificate
                cost.auditBound = r.auditBound
            }
            rows.append(
                CertificationRow(
                    index: row.index, label: row.label, prediction: cert.prediction,
                    radius: cert.abstained ? 0 : cert.radius, microseconds: microseconds))
            cost.agreement = cert.agreement; cost.pALower = cert.pALower
            images.append(cost)
        }
        var out = manifest
        out.configuration = config
        out.describeRadius()
        out.images = images
        out.imagesCertified = rows.count
        return (rows, out)
    }
}
