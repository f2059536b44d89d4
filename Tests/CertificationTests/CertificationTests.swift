import Equilibrium
// Certification mechanics: chain layout, radius estimators (docs/certificate.md §1/§3), and units of work that are pure,
// order-independent and exactly accounted.
import Foundation
import Statistics
import TensorCore
import Testing
import _TestSupport

@testable import Certification

@Suite("Chain layout")
struct ChainLayoutTests {
    @Test func lengthsCoverEverySampleOnce() {
        for (n, chains, per) in [(10_000, 400, 50), (1003, 100, 25), (99, 100, 50), (7, 10, 5)] {
            let l = ChainLayout(samples: n, chains: chains, chainsPerBlock: per)
            #expect((0..<chains).reduce(0) { $0 + l.length(ofChain: $1) } == n)
            #expect(l.serializedSamples == (0..<chains).reduce(0) { $0 + max(0, l.length(ofChain: $1) - 1) })
            var seen = Set<Int>()
            for c in 0..<chains { for t in 1..<max(1, l.length(ofChain: c)) { seen.insert(l.serializedIndex(chain: c, step: t)) } }
            #expect(seen == Set(0..<l.serializedSamples))
        }
        let paper = ChainLayout(samples: 10_000, chains: 400, chainsPerBlock: 50)
        #expect(paper.maxLength == 25 && paper.blockCount == 8 && paper.serializedSamples == 9_600)
    }
}

@Suite("Radius estimators")
struct RadiusTests {
    func counts(_ nA: Int64, of n: Int64, served: Int64 = 0, agree: Int64 = 0, classes: Int = 3) -> SampleCounts {
        var c = SampleCounts(classes: classes)
        c.counts[1] = nA; c.counts[0] = n - nA; c.samples = n
        c.checkServed[1] = served; c.checkAgree[1] = agree
        return c
    }

    @Test func standardIsCohen() throws {
        let e = counts(9_900, of: 10_000)
        let cert = try CertificateEstimator.standard(selected: 1, estimation: e, sigma: 0.25, alpha: 0.001)
        let p = try ClopperPearson.lowerBound(successes: 9_900, trials: 10_000, alpha: 0.001)
        #expect(cert.prediction == 1 && cert.pALower == p)
        #expect(abs(cert.radius - 0.25 * Normal.quantile(p)) < 1e-12)
        // All samples agree: p̲A = α^(1/n).
        let all = try CertificateEstimator.standard(selected: 1, estimation: counts(100, of: 100), sigma: 1, alpha: 0.01)
        #expect(abs(all.pALower - pow(0.01, 1.0 / 100)) < 1e-12)
        // Below one half: abstain with radius 0.
        let weak = try CertificateEstimator.standard(selected: 1, estimation: counts(520, of: 1_000), sigma: 1, alpha: 0.001)
        #expect(weak.abstained && weak.radius == 0)
    }

    @Test func paperFormUsesEquations9To14() throws {
        let e = counts(9_000, of: 10_000, served: 380, agree: 360)
        let cert = try CertificateEstimator.serialized(selected: 1, estimation: e, sigma: 0.5, alpha: 0.001, estimator: .paper)
        let r = try ClopperPearson.lowerBound(successes: 360, trials: 380, alpha: 0.0005)
        let p = try ClopperPearson.lowerBound(successes: r * 9_000, trials: 10_000, alpha: 0.0005)
        #expect(abs(cert.agreement - r) < 1e-15 && abs(cert.pALower - p) < 1e-15)
        #expect(abs(cert.radius - 0.5 * Normal.quantile(p)) < 1e-12)
    }

    @Test func paperFormCapsRadiusWithKChecks() throws {
        // r ≤ (α/2)^(1/K): with K = 400 all agreeing and all samples on ĉA, R stays below ≈ 2σ (docs/certificate.md §3).
        let e = counts(10_000, of: 10_000, served: 400, agree: 400)
        let cert = try CertificateEstimator.serialized(selected: 1, estimation: e, sigma: 1, alpha: 0.001, estimator: .paper)
        #expect(abs(cert.agreement - pow(0.0005, 1.0 / 400)) < 1e-12)
        #expect(cert.radius > 1.9 && cert.radius < 2.0)
    }

    @Test func noCheckedSampleOnTheClassMeansAbstention() throws {
        let e = counts(9_000, of: 10_000, served: 0, agree: 0)
        let cert = try CertificateEstimator.serialized(selected: 1, estimation: e, sigma: 0.5, alpha: 0.001, estimator: .paper)
        #expect(cert.abstained && cert.radius == 0 && !cert.radius.isNaN)
    }

    @Test func referenceCodeBarelyPenalisesDisagreement() throws {
        // N_A/N = 0.9 and r ≈ 0.84: the released form stays near the uncorrected bound, the paper form drops a lot.
        var e = counts(9_000, of: 10_000, served: 400, agree: 350)
        e.checkServed[0] = 20
        let ref = try CertificateEstimator.serialized(selected: 1, estimation: e, sigma: 1, alpha: 0.001, estimator: .referenceCode)
        let paper = try CertificateEstimator.serialized(selected: 1, estimation: e, sigma: 1, alpha: 0.001, estimator: .paper)
        let uncorrected = try ClopperPearson.lowerBound(successes: 9_000, trials: 10_000, alpha: 0.0005)
        #expect(abs(ref.pALower - uncorrected) < 0.002)
        #expect(paper.pALower < ref.pALower - 0.05)
    }

    @Test func predictUsesTheBinomialTest() throws {
        var c = SampleCounts(classes: 3)
        c.counts = [10, 80, 10]
        #expect(try CertificateEstimator.predict(c, alpha: 0.001) == 1)
        c.counts = [45, 55, 0]
        #expect(try CertificateEstimator.predict(c, alpha: 0.001) == -1)
    }
}

@Suite("Units of work")
struct UnitTests {
    func tinySmoothing(mode: SmoothingMode, seed: UInt64 = 0) throws -> Smoothing<EquilibriumClassifier<DEQSmall>> {
        let c = DEQConfiguration(
            inputHeight: 8, inputWidth: 8, inputChannels: 1, classes: 4, channels: 4, expansion: 1,
            groups: 2, normalizationMean: 0.5, normalizationStd: 0.3)
        let model = try DEQSmall(c, seed: 3)
        let anderson = SolverConfig(kind: .anderson, maxSteps: 8, tolerance: 1e-3, stopMode: .relative)
        let config = SmoothingConfiguration(
            sigma: 0.5, n0: 20, n: 120, alpha: 0.01, mode: mode,
            solver: mode == .srs ? SolverConfig(kind: .naive, maxSteps: 1, tolerance: 0) : anderson,
            warmupSolver: anderson, baseSolver: anderson, auditStages: [30],
            chains: 20, chainsPerBlock: 10, seed: seed)
        return try Smoothing(model: EquilibriumClassifier(model), configuration: config)
    }

    func image() -> Tensor { var r = TestRandom(seed: 5); return r.tensor([8, 8, 1], 0, 1) }

    @Test(arguments: [SmoothingMode.standard, .srs])
    func countsAreExactAndUnitsArePure(mode: SmoothingMode) throws {
        let s = try tinySmoothing(mode: mode)
        let x = image()
        let sel = s.runPhase(image: x, index: 7, phase: .selection).counts
        let outcome = s.runPhase(image: x, index: 7, phase: .estimation)
        let est = outcome.counts
        #expect(sel.samples == 20 && sel.counts.reduce(0, +) == 20)
        #expect(est.samples == 120 && est.counts.reduce(0, +) == 120)
        // SRS records every sample's serialized class (chain-major), consistent with the counts.
        #expect(outcome.serializedClasses.count == (mode == .srs ? 120 : 0))
        if mode == .srs {
            #expect((0..<4).allSatisfy { c in Int64(outcome.serializedClasses.filter { Int($0) == c }.count) == est.counts[c] })
        }
        // Blocks in reverse order, run again: the same sums (pure units, order-independent merge).
        let reversed = s.configuration.blocks(.estimation).reversed().reduce(SampleCounts(classes: 4)) {
            $0 + s.run(image: x, index: 7, phase: .estimation, block: $1).counts
        }
        #expect(reversed == est)
    }

    @Test func differentSeedsDrawDifferentNoiseAndImagesDiffer() throws {
        let a = try tinySmoothing(mode: .standard, seed: 1), b = try tinySmoothing(mode: .standard, seed: 2)
        let x = image()
        var differs = false
        for i in 0..<4 where a.run(image: x, index: i, phase: .estimation, block: 0) != b.run(image: x, index: i, phase: .estimation, block: 0) {
            differs = true
        }
        #expect(differs)
    }

    @Test func auditPositionsAreSeededDistinctAndExtendable() throws {
        let s = try tinySmoothing(mode: .srs)
        let k = s.auditPositions(image: 3, count: 30)
        #expect(k.count == 30 && Set(k).count == 30 && k == s.auditPositions(image: 3, count: 30) && k != s.auditPositions(image: 4, count: 30))
        #expect(k.allSatisfy { $0 >= 0 && $0 < 120 })
        #expect(Array(s.auditPositions(image: 3, count: 90).prefix(30)) == k, "a later stage extends the earlier one")
    }

    /// An audit unit re-solves exactly the estimation sample at its position: with a classifier whose answer does not
    /// depend on its start state, the audited class equals the recorded serialized class at every position, and
    /// the base classifier's solver is what the audit passes.
    @Test func auditReSolvesTheSameNoisySample() throws {
        let s = SolverConfig(kind: .naive, maxSteps: 1), base = SolverConfig(kind: .anderson, maxSteps: 7)
        let config = SmoothingConfiguration(
            sigma: 1, n0: 20, n: 300, alpha: 0.01, mode: .srs, solver: s, warmupSolver: s,
            baseSolver: base, auditStages: [40, 120], chains: 50, chainsPerBlock: 25, seed: 4)
        let smoothing = try Smoothing(model: StatelessThresholdClassifier(), configuration: config)
        let x = Tensor(shape: [4])
        let serialized = smoothing.runPhase(image: x, index: 2, phase: .estimation).serializedClasses
        let positions = smoothing.auditPositions(image: 2, count: 120)
        let audited = (0..<2).flatMap { st in
            smoothing.auditUnits(stage: st).flatMap { smoothing.audit(image: x, index: 2, positions: $0).baseClasses }
        }
        #expect(audited.count == 120 && Set(serialized).count == 2, "both classes occur")
        #expect(zip(positions, audited).allSatisfy { serialized[$0] == $1 })
        #expect(smoothing.audit(image: x, index: 2, positions: 0..<25).sampleEvaluations == 25 * 7)
    }

    @Test func chainLayoutIndicesRoundTrip() {
        for l in [
            ChainLayout(samples: 120, chains: 20, chainsPerBlock: 10), ChainLayout(samples: 107, chains: 20, chainsPerBlock: 5),
            ChainLayout(samples: 10, chains: 20, chainsPerBlock: 10),
        ] {
            var next = 0
            for b in 0..<l.blockCount {
                let r = l.sampleRange(ofBlock: b)
                #expect(r.lowerBound == next)
                next = r.upperBound
                for ch in l.chainRange(ofBlock: b) {
                    for t in 0..<l.length(ofChain: ch) {
                        let i = l.sampleIndex(chain: ch, step: t)
                        #expect(r.contains(i) && l.chainAndStep(ofSample: i) == (ch, t))
                    }
                }
            }
            #expect(next == l.samples)
        }
    }

    @Test func invalidSettingsAreRefused() throws {
        let s = try tinySmoothing(mode: .srs)
        var c = s.configuration
        for mutate in [
            { (c: inout SmoothingConfiguration) in c.sigma = 0 }, { $0.alpha = 1 }, { $0.alpha = 5e-324 }, { $0.n0 = 0 }, { $0.n = 0 },
            { $0.auditStages = [10_000] }, { $0.auditStages = [40, 30] }, { $0.auditStages = [] },
            { $0.auditStages = [0, 10] }, { $0.radius = .cohen }, { $0.chains = 25 },
        ] {
            var bad = c
            mutate(&bad)
            #expect(throws: CertificationError.self) { try bad.validate() }
        }
        c.mode = .standard
        c.radius = .cohen; c.auditStages = []
        try c.validate()
        c.radius = .audit
        #expect(throws: CertificationError.self) { try c.validate() }  // the audit is an SRS radius
        c.radius = .cohen; c.auditStages = [30]
        #expect(throws: CertificationError.self) { try c.validate() }  // standard mode has no audit
    }

    @Test func nonFiniteImageIsRefused() throws {
        let s = try tinySmoothing(mode: .standard)
        var x = image()
        x.scalars[3] = .nan
        #expect(throws: CertificationError.nonFiniteInput(image: 9)) { try s.certify(image: x, index: 9) }
    }
}

/// Predicts 1 when the first input value is below `threshold`, else 0: under N(0, σ²) noise p_A = Φ((t − x₀)/σ).
struct ThresholdClassifier: SmoothableClassifier {
    var threshold: Float
    var classes: Int { 2 }
    var inputShape: [Int] { [4] }
    var supportsSerializedSmoothing: Bool { false }
    func classify(_ x: Tensor, start: Tensor?, solver: SolverConfig) -> ClassifiedBatch {
        let b = x.shape[0], per = x.count / b
        return ClassifiedBatch(
            predictions: (0..<b).map { x.scalars[$0 * per] < threshold ? 1 : 0 }, state: nil,
            evaluations: 1, diverged: Array(repeating: false, count: b))
    }
}

/// Class 1 when the first input is below 0; a "fixed point" that ignores its start (so SRS and from-zero agree);
/// f-evaluations = the solver's step count.
struct StatelessThresholdClassifier: SmoothableClassifier {
    var classes: Int { 2 }
    var inputShape: [Int] { [4] }
    var supportsSerializedSmoothing: Bool { true }
    func classify(_ x: Tensor, start: Tensor?, solver: SolverConfig) -> ClassifiedBatch {
        let b = x.shape[0], per = x.count / b
        return ClassifiedBatch(
            predictions: (0..<b).map { x.scalars[$0 * per] < 0 ? 1 : 0 }, state: x,
            evaluations: solver.maxSteps, diverged: Array(repeating: false, count: b))
    }
}

@Suite("Smoothing any classifier")
struct GenericSmoothingTests {
    func smoothing(alpha: Double, n: Int, mode: SmoothingMode = .standard) throws -> Smoothing<ThresholdClassifier> {
        let s = SolverConfig(kind: .naive, maxSteps: 1)
        let config = SmoothingConfiguration(
            sigma: 1, n0: 20, n: n, alpha: alpha, mode: mode, solver: s, warmupSolver: s,
            baseSolver: s, auditStages: [1], chains: 50, chainsPerBlock: 50, seed: 9)
        return try Smoothing(model: ThresholdClassifier(threshold: 0.5), configuration: config)
    }

    @Test func srsNeedsAFixedPointModel() throws {
        #expect(throws: CertificationError.self) { try smoothing(alpha: 0.01, n: 100, mode: .srs) }
    }

    /// CERTIFY's guarantee end to end: over many images (independent noise), the lower bound exceeds the true p_A in
    /// at most about α of them. p_A = Φ(0.5) ≈ 0.691 for x₀ = 0; α = 0.1, 600 images of n = 100: the expected
    /// number of misses is ≤ 60 (at most α by Clopper–Pearson); 85 would be more than 3σ above it, and a bound
    /// that is never below p_A − 0.2 would be vacuous.
    @Test func lowerBoundCoversTheTruePA() throws {
        let s = try smoothing(alpha: 0.1, n: 100)
        let pA = Normal.cdf(0.5)
        var misses = 0, sum = 0.0
        let image = Tensor(shape: [4])
        for i in 0..<600 {
            let est = s.runPhase(image: image, index: i, phase: .estimation).counts
            let p = try ClopperPearson.lowerBound(successes: Double(est.counts[1]), trials: Double(est.samples), alpha: 0.1)
            if p > pA { misses += 1 }
            sum += p
        }
        #expect(misses <= 85, "\(misses) of 600 bounds above p_A = \(pA)")
        #expect(sum / 600 > pA - 0.2 && sum / 600 < pA, "mean bound \(sum / 600)")
    }

    @Test func wrongInputShapeIsAClearError() throws {
        let s = try smoothing(alpha: 0.01, n: 100)
        #expect(throws: CertificationError.self) { try s.certify(image: Tensor(shape: [5]), index: 0) }
    }
}
