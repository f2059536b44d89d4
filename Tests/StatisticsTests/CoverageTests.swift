import Foundation
import TensorCore
import Testing

@testable import Statistics

@Suite("Clopper–Pearson coverage on a synthetic Bernoulli classifier")
struct CoverageTests {
    /// A base classifier that returns the top class with known probability p_A: each "noisy sample" is a
    /// Bernoulli(p_A) draw. Repeating CERTIFY's estimation step `reps` times, the lower bound must exceed
    /// p_A (a miss) in at most a fraction α of repetitions. Asserted: (1) the exact miss probability,
    /// Σₖ pmf(k)·[LCB(k) > p_A], is ≤ α (the guarantee itself, no sampling noise); (2) the simulated miss
    /// rate is ≤ α + 4σ with σ = √(α(1−α)/reps) (the implementation under a real sampler); (3) the
    /// simulated rate is within 4σ of the exact one (both computations agree); (4) the bound is not
    /// vacuous: its mean lies within 1.5·z_{1−α}·√(p(1−p)/n) below p_A (Clopper–Pearson is conservative and skewed
    /// at small n: 1.25× at p_A = 0.93, n = 200; a bound of 0 would pass (1)–(2)).
    @Test(arguments: [(0.7, 500), (0.93, 200), (0.5, 1000)])
    func lowerBoundCoversTrueProbability(pA: Double, n: Int) throws {
        let alpha = 0.05, reps = 4000
        var rng = SplitMix64(seed: 0x5EED_0000 &+ UInt64(n))
        // Bounds for every possible count (one Beta quantile each), reused by the simulation.
        let bounds = try (0...n).map { try ClopperPearson.lowerBound(successes: $0, trials: n, alpha: alpha) }
        let exactMiss = try (0...n).reduce(0.0) { sum, k in
            bounds[k] > pA ? sum + (try Binomial.pmf(k, trials: n, p: pA)) : sum
        }
        var misses = 0
        var boundSum = 0.0
        for _ in 0..<reps {
            var successes = 0
            for _ in 0..<n where rng.uniform() < pA { successes += 1 }
            let bound = bounds[successes]
            if bound > pA { misses += 1 }
            boundSum += bound
        }
        let missRate = Double(misses) / Double(reps)
        let sigma = (alpha * (1 - alpha) / Double(reps)).squareRoot()
        #expect(exactMiss <= alpha, "exact miss probability \(exactMiss) > α")
        #expect(missRate <= alpha + 4 * sigma, "simulated miss rate \(missRate)")
        let sigmaExact = (exactMiss * (1 - exactMiss) / Double(reps)).squareRoot()
        #expect(
            abs(missRate - exactMiss) <= 4 * max(sigmaExact, 1 / Double(reps)),
            "simulated miss rate \(missRate) vs exact \(exactMiss)")
        let meanBound = boundSum / Double(reps)
        let halfWidth = -Normal.quantile(alpha) * (pA * (1 - pA) / Double(n)).squareRoot()
        #expect(
            meanBound < pA && pA - meanBound < 1.5 * halfWidth,
            "mean bound \(meanBound) vs p_A \(pA), normal-approximation distance \(halfWidth)")
    }

    /// Same check at a realistic CERTIFY setting's α = 0.001 through the exact miss probability only
    /// (a simulation would need ~10⁶ repetitions to resolve it): n = 10,000, several p_A.
    @Test func exactMissProbabilityAtCertifySettings() throws {
        let alpha = 0.001, n = 10_000
        for pA in [0.55, 0.8, 0.95, 0.999] {
            var miss = 0.0
            // LCB is increasing in k, so the misses are the k above the first k whose bound exceeds p_A.
            var k = n
            while k >= 0, try ClopperPearson.lowerBound(successes: k, trials: n, alpha: alpha) > pA {
                miss += try Binomial.pmf(k, trials: n, p: pA)
                k -= 1
            }
            #expect(miss <= alpha, "p_A = \(pA): miss probability \(miss)")
            #expect(miss > alpha / 4, "p_A = \(pA): miss probability \(miss) — bound far too conservative")
        }
    }
}
