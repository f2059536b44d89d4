import Certification
import Foundation
import Reports
import Statistics

/// The soundness check of srs.md §7 on real images: a reported radius above what an independent standard run of the
/// same base classifier (the *reference*, its own noise) allows is an over-claim.
///
/// For a row claiming class c with radius R, the reference's counts of c give p̄_c = CP_upper(n_c, n, α_ref); a
/// sound radius exceeds σ·Φ⁻¹(p̄_c) only when the row's own bound or the reference's upper bound failed, so with
/// probability at most about α + α_ref per image. Rows are compared at their printed precision (3 significant
/// digits), so a radius counts as above the ceiling only when it exceeds it by more than the rounding.
public enum OverClaimCheck {
    public struct Result: Sendable, Equatable {
        /// Certified rows with reference counts.
        public var compared: Int
        /// Image indices whose radius exceeds the reference's ceiling.
        public var overClaims: [Int]
    }

    public static func check(rows: [CertificationRow], reference: RunManifest, referencePath: String) throws -> Result {
        let costs = Dictionary(reference.images.map { ($0.index, $0) }, uniquingKeysWith: { _, last in last })
        let sigma = Double(reference.configuration.sigma), alpha = reference.configuration.alpha
        var compared = 0
        var over: [Int] = []
        for row in rows where row.prediction >= 0 && row.radius > 0 {
            guard let cost = costs[row.index], let words = cost.estimationCounts else { continue }
            let k = (words.count - 3) / 3
            guard words.count == 3 * k + 3, row.prediction < k else {
                throw CoordinatorError.checkpoint(path: referencePath, reason: "image \(row.index) has no counts for class \(row.prediction)")
            }
            let counts = SampleCounts(words: words, classes: k)
            let upper = try ClopperPearson.upperBound(
                successes: Double(counts.counts[row.prediction]),
                trials: Double(counts.samples), alpha: alpha)
            let ceiling = upper >= 1 ? Double.infinity : (upper <= 0.5 ? 0 : sigma * Normal.quantile(upper))
            compared += 1
            // Printed radii carry 3 significant digits: allow half a unit of the last one.
            let rounding = row.radius > 0 ? 0.5 * pow(10, floor(log10(row.radius)) - 2) : 0
            if row.radius - rounding > ceiling { over.append(row.index) }
        }
        return Result(compared: compared, overClaims: over)
    }
}

/// How far serialized predictions lean towards ĉA against the base classifier on the same noisy inputs: per image,
/// N_A/N (serialized) minus the base classifier's rate of ĉA on the audited samples (a uniform sample of the same
/// N inputs, so an unbiased estimate of what the base classifier does on them). Positive = the chains over-claim.
public enum SerializedBias {
    public struct Result: Sendable, Equatable {
        public var images: Int
        /// Mean over all images and over those with N_A/N < `unanimity`, in points (×100), with their count.
        public var meanPoints: Double
        public var contestedImages: Int
        public var contestedMeanPoints: Double
    }

    public static func measure(recordsPath: String, unanimity: Double = 0.99) throws -> Result {
        let records = try ImageLineLog<StoredRecord>.read(recordsPath, index: \.index)
        var all: [Double] = [], contested: [Double] = []
        for (_, stored) in records {
            let r = try stored.record(path: recordsPath)
            guard !r.serialized.isEmpty, !r.audited.isEmpty else { continue }
            let c = UInt8(stored.selectedClass)
            let serialized = Double(r.serialized.lazy.filter { $0 == c }.count) / Double(r.serialized.count)
            let base = Double(r.audited.lazy.filter { $0 == c }.count) / Double(r.audited.count)
            all.append(serialized - base)
            if serialized < unanimity { contested.append(serialized - base) }
        }
        func mean(_ x: [Double]) -> Double { x.isEmpty ? 0 : 100 * x.reduce(0, +) / Double(x.count) }
        return Result(images: all.count, meanPoints: mean(all), contestedImages: contested.count, contestedMeanPoints: mean(contested))
    }
}
