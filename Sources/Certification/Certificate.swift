import Foundation
import Statistics

/// The outcome for one image: a class (or abstention) and a certified L2 radius.
public struct Certificate: Sendable, Equatable, Codable {
    /// Predicted class, or −1 for abstention.
    public var prediction: Int
    /// Certified L2 radius (0 when abstaining).
    public var radius: Double
    /// The lower confidence bound p̲A used.
    public var pALower: Double
    /// SRS: the agreement factor r = LCB(N1, N2) (1 in standard mode).
    public var agreement: Double

    public init(prediction: Int, radius: Double, pALower: Double, agreement: Double) {
        self.prediction = prediction; self.radius = radius; self.pALower = pALower; self.agreement = agreement
    }

    public static let abstain = Certificate(prediction: -1, radius: 0, pALower: 0, agreement: 0)
    public var abstained: Bool { prediction < 0 }
}

/// CERTIFY's final step (docs/certificate.md §1, §3; the audit of §4 is in Audit.swift).
public enum CertificateEstimator {
    /// Standard (Cohen): p̲A = LCB(n_A, n, 1 − α); abstain if p̲A < ½, else R = σΦ⁻¹(p̲A).
    /// Guarantee: with probability ≥ 1 − α over the sampling, the result is g(x) with a correct radius or an abstention.
    public static func standard(selected cA: Int, estimation: SampleCounts, sigma: Double, alpha: Double) throws -> Certificate {
        let nA = Double(estimation.counts[cA]), n = Double(estimation.samples)
        let p = try ClopperPearson.lowerBound(successes: nA, trials: n, alpha: alpha)
        return certificate(cA, p, sigma: sigma, agreement: 1)
    }

    /// SRS, the forms of docs/certificate.md §3 that treat serialized predictions as i.i.d. (for comparison; the sound SRS
    /// radius is `audit`). `paper`: α̃ = α/2; r = LCB(N1, N2, 1 − α̃) with N1, N2 for class ĉA (N2 = 0 → r = 0);
    /// N_A^E = r·N_A (Eq. 9); p̲A = LCB(N_A^E, N, 1 − α̃) (Eq. 13); R = σΦ⁻¹(p̲A) (Eq. 14).
    /// `referenceCode`: the check class is the majority of the checked serialized predictions;
    /// p̲A = LCB(r·N_A, r·N, 1 − α/2) (the released code; not a sound correction).
    public static func serialized(
        selected cA: Int, estimation e: SampleCounts, sigma: Double, alpha: Double,
        estimator: RadiusEstimator
    ) throws -> Certificate {
        let half = alpha / 2
        let nA = Double(e.counts[cA]), n = Double(e.samples)
        switch estimator {
        case .paper:
            let n1 = Double(e.checkAgree[cA]), n2 = Double(e.checkServed[cA])
            let r = n2 == 0 ? 0 : try ClopperPearson.lowerBound(successes: n1, trials: n2, alpha: half)
            let p = try ClopperPearson.lowerBound(successes: r * nA, trials: n, alpha: half)
            return certificate(cA, p, sigma: sigma, agreement: r)
        case .referenceCode:
            var m = 0
            for c in 1..<e.checkServed.count where e.checkServed[c] > e.checkServed[m] { m = c }
            let n1 = Double(e.checkAgree[m]), n2 = Double(e.checkServed[m])
            let r = n2 == 0 ? 0 : try ClopperPearson.lowerBound(successes: n1, trials: n2, alpha: half)
            if r == 0 { return .abstain }
            let p = try ClopperPearson.lowerBound(successes: r * nA, trials: r * n, alpha: half)
            return certificate(cA, p, sigma: sigma, agreement: r)
        case .audit, .cohen:
            preconditionFailure("CertificateEstimator.serialized computes paper and reference-code only")
        }
    }

    static func certificate(_ cA: Int, _ p: Double, sigma: Double, agreement: Double) -> Certificate {
        guard p >= 0.5, p.isFinite else {
            return Certificate(prediction: -1, radius: 0, pALower: p.isFinite ? p : 0, agreement: agreement)
        }
        return Certificate(prediction: cA, radius: sigma * Normal.quantile(p), pALower: p, agreement: agreement)
    }

    /// PREDICT (Cohen): top two counts c1 ≥ c2; abstain unless the two-sided binomial test of c1 out of c1 + c2
    /// at p = ½ has p-value ≤ α. Returns the class or −1.
    public static func predict(_ counts: SampleCounts, alpha: Double) throws -> Int {
        let order = counts.counts.indices.sorted { counts.counts[$0] != counts.counts[$1] ? counts.counts[$0] > counts.counts[$1] : $0 < $1 }
        let c1 = Int(counts.counts[order[0]]), c2 = order.count > 1 ? Int(counts.counts[order[1]]) : 0
        if c1 + c2 == 0 { return -1 }
        let pv = try BinomialTest.twoSidedPValue(successes: c1, trials: c1 + c2, p: 0.5)
        return pv <= alpha ? order[0] : -1
    }
}
