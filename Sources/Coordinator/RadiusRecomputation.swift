import Certification
import Foundation
import Reports

/// Recompute the radii of a finished certification run from the counts its manifest keeps (ĉA and the estimation
/// counts of every image), with another SRS radius estimator and/or α — the samples are the same, only the
/// statistics change, so comparing `paper` with `reference-code` costs no second run.
public enum RadiusRecomputation {
    /// Rows of `report` (in its order, time column kept) with radii from `estimator` (SRS runs only) at `alpha`
    /// (nil: the run's), and the manifest describing them.
    public static func recompute(report: CertificationReport, manifest: RunManifest, reportPath: String,
                                 estimator: RadiusEstimator?, alpha: Double?) throws -> ([CertificationRow], RunManifest) {
        var config = manifest.configuration
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
            guard config.mode == .srs else {
                throw CoordinatorError.invalidOption(name: "radius", value: estimator.rawValue,
                                                     reason: "\(reportPath) is a standard-mode run (Cohen's radius); estimators apply to srs")
            }
            config.radius = estimator
        }
        let costs = Dictionary(manifest.images.map { ($0.index, $0) }, uniquingKeysWith: { _, last in last })
        var rows: [CertificationRow] = []
        var images: [RunManifest.ImageCost] = []
        for row in report.rows {
            guard var cost = costs[row.index], let cA = cost.selectedClass, let words = cost.estimationCounts else {
                throw CoordinatorError.checkpoint(path: RunManifest.path(forReport: reportPath),
                    reason: "no counts for image \(row.index) (runs before counts were kept in the manifest cannot be recomputed)")
            }
            let k = (words.count - 3) / 3
            guard words.count == 3 * k + 3, k >= 2, (0..<k).contains(cA) else {
                throw CoordinatorError.checkpoint(path: RunManifest.path(forReport: reportPath),
                                                  reason: "image \(row.index) has \(words.count) count words, not 3·classes + 3")
            }
            let e = SampleCounts(words: words, classes: k)
            let cert = config.mode == .standard
                ? try CertificateEstimator.standard(selected: cA, estimation: e, sigma: Double(config.sigma), alpha: config.alpha)
                : try CertificateEstimator.serialized(selected: cA, estimation: e, sigma: Double(config.sigma),
                                                      alpha: config.alpha, estimator: config.radius)
            rows.append(CertificationRow(index: row.index, label: row.label, prediction: cert.prediction,
                                         radius: cert.abstained ? 0 : cert.radius, microseconds: row.microseconds))
            cost.agreement = cert.agreement; cost.pALower = cert.pALower
            images.append(cost)
        }
        var out = manifest
        out.configuration = config
        out.radiusEstimator = config.mode == .standard ? "cohen" : config.radius.rawValue
        out.images = images
        out.imagesCertified = rows.count
        return (rows, out)
    }
}
