import Foundation
import Statistics

// The audit (docs/certificate.md §4): a certificate for the smoothed base classifier g that holds whatever the dependence
// between serialized predictions.
//
// Notation for one image: N estimation samples with noise ε_i i.i.d.; Z_i = 1 when the base classifier (a
// deterministic from-zero solve) gives ĉA on sample i, so ΣZ_i ~ Binomial(N, p_A) exactly; M_i = 1 when the
// serialized prediction is ĉA; A = {i : M_i = 1}, N_A = |A|; D = #{i ∈ A : Z_i = 0}. Then ΣZ_i ≥ N_A − D.
//
// Stage s re-solves from zero the first k_s positions of a uniformly random permutation of 0..<N drawn from a
// seeded stream independent of the noise and of every prediction. Conditional on the whole run, D is fixed and
// X_s = #{audited i ∈ A : Z_i = 0} ~ Hypergeom(N, D, k_s), so D̄_s = Hypergeometric.upperBound(X_s) ≥ D with
// probability ≥ 1 − α_H,s. The k_s audited solves are also i.i.d. draws of the base classifier (uniform positions,
// i.i.d. noise): C_s = #{audited : Z_i = 1} ~ Binomial(k_s, p_A).
//
// p̲A = max over the stages run of max(CP_lower(N_A − D̄_s, N, α_N), CP_lower(C_s, k_s, α_C,s)). Union bound: the
// answer over-claims only if ΣZ's bound fails (α_N), or some D̄_s < D (Σ α_H,s), or some audit-only bound fails
// (Σ α_C,s); the shares sum to α over every *planned* stage, so deciding adaptively which stages to run keeps it.

/// How the audit spends α: α_N = α/2 on the corrected count, α/4 on the disagreement bounds and α/4 on the audit-only
/// (Cohen) bounds, each split equally over the planned stages.
public struct AuditAlphaShares: Sendable, Equatable, Codable {
    /// α_N: CP_lower(N_A − D̄, N).
    public var correctedCount: Double
    /// α_H,s: each stage's hypergeometric upper bound on D.
    public var disagreementBoundPerStage: Double
    /// α_C,s: each stage's CP_lower(C_s, k_s) on the audited from-zero solves alone.
    public var auditOnlyPerStage: Double

    public init(alpha: Double, plannedStages: Int) {
        precondition(plannedStages >= 1)
        correctedCount = alpha / 2
        disagreementBoundPerStage = alpha / 4 / Double(plannedStages)
        auditOnlyPerStage = alpha / 4 / Double(plannedStages)
    }

    /// α_N + S·(α_H,s + α_C,s).
    public func total(plannedStages: Int) -> Double {
        correctedCount + Double(plannedStages) * (disagreementBoundPerStage + auditOnlyPerStage)
    }
}

/// What stage s of the audit saw (cumulative: stage s includes the positions of the stages before it).
public struct AuditStageTally: Sendable, Equatable, Codable {
    /// k_s: positions re-solved from zero.
    public var draws: Int
    /// X_s: audited samples whose serialized prediction is ĉA and whose base prediction is not.
    public var disagreements: Int
    /// C_s: audited samples whose base prediction is ĉA.
    public var baseAgreements: Int

    public init(draws: Int, disagreements: Int, baseAgreements: Int) {
        self.draws = draws; self.disagreements = disagreements; self.baseAgreements = baseAgreements
    }
}

/// Which bound gave the audit's p̲A.
public struct AuditBound: Sendable, Equatable, Codable {
    /// p̲A (the maximum over the candidates below).
    public var pALower: Double
    /// The stage (1-based) whose bound is p̲A, and whether it is the corrected count (`true`) or the audit-only bound.
    public var stage: Int
    public var fromCorrectedCount: Bool
    /// D̄ of that stage (also reported when the audit-only bound won).
    public var disagreementBound: Int
}

extension CertificateEstimator {
    /// The audit's certificate (docs/certificate.md §4) from N, N_A, the tallies of the stages run, and the number of planned
    /// stages (which fixes the α shares). `agreement` is (N_A − D̄)/N_A of the winning stage.
    public static func audit(
        selected cA: Int, samples n: Int, selectedCount nA: Int, stages: [AuditStageTally],
        plannedStages: Int, sigma: Double, alpha: Double
    ) throws -> (Certificate, AuditBound) {
        precondition(!stages.isEmpty && stages.count <= plannedStages, "audit: run 1…\(plannedStages) stages")
        let shares = AuditAlphaShares(alpha: alpha, plannedStages: plannedStages)
        var best: AuditBound? = nil
        for (s, t) in stages.enumerated() {
            let dBar = try Hypergeometric.upperBound(
                observed: t.disagreements, population: n, draws: t.draws,
                alpha: shares.disagreementBoundPerStage)
            let corrected = try ClopperPearson.lowerBound(successes: max(0, nA - dBar), trials: n, alpha: shares.correctedCount)
            let auditOnly = try ClopperPearson.lowerBound(successes: t.baseAgreements, trials: t.draws, alpha: shares.auditOnlyPerStage)
            for (p, fromCount) in [(corrected, true), (auditOnly, false)] where best == nil || p > best!.pALower {
                best = AuditBound(pALower: p, stage: s + 1, fromCorrectedCount: fromCount, disagreementBound: dBar)
            }
        }
        let b = best!
        let agreement = nA == 0 ? 0 : Double(max(0, nA - b.disagreementBound)) / Double(nA)
        return (certificate(cA, b.pALower, sigma: sigma, agreement: agreement), b)
    }
}

/// Everything one image's SRS estimation leaves for the statistics: the serialized class of each of the n samples
/// (chain-major order) and the base classifier's class at the audited positions (in audit order). With ĉA and the
/// audit permutation (a function of seed and image) it determines the audit, paper and reference-code radii.
public struct SerializedRecord: Sendable, Equatable {
    /// M: serialized class of estimation sample i (chain-major).
    public var serialized: [UInt8]
    /// Base class of the audit permutation's first `audited.count` positions, in permutation order.
    public var audited: [UInt8]

    public init(serialized: [UInt8], audited: [UInt8]) { self.serialized = serialized; self.audited = audited }

    /// The tallies of the stages whose positions were all audited (stage sizes ≤ audited.count).
    public func tallies(selected cA: Int, positions: [Int], stages: [Int]) -> [AuditStageTally] {
        precondition(positions.count >= audited.count)
        var out: [AuditStageTally] = []
        var x = 0, c = 0, done = 0
        for k in stages where k <= audited.count {
            for j in done..<k {
                let base = Int(audited[j])
                if base == cA { c += 1 } else if Int(serialized[positions[j]]) == cA { x += 1 }
            }
            done = k
            out.append(AuditStageTally(draws: k, disagreements: x, baseAgreements: c))
        }
        return out
    }

    /// The paper's check tallies (docs/certificate.md §3) from the first `k` audited positions: per serialized class c,
    /// served[c] = #{M = c} and agree[c] = #{M = c and base = c}.
    public func checkTallies(positions: [Int], first k: Int, classes: Int) -> (served: [Int64], agree: [Int64]) {
        var served = [Int64](repeating: 0, count: classes), agree = served
        for j in 0..<min(k, audited.count) {
            let m = Int(serialized[positions[j]])
            served[m] += 1
            if Int(audited[j]) == m { agree[m] += 1 }
        }
        return (served, agree)
    }
}
