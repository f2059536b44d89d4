import Certification
import Coordinator
import Datasets
import Equilibrium
// Certification on the embedded MNIST DEQ-S and real test images: determinism, seeds, agreement between standard
// and serialized smoothing, and soundness of the SRS radius against a high-n standard estimate.
import Foundation
import Statistics
import TensorCore
import Testing

private let checkpoint = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Models/deq-s-mnist-sigma0.25.safetensors").path

@Suite("Certification of the embedded MNIST DEQ-S", .serialized)
struct RealModelCertificationTests {
    let model: DEQSmall
    let test: ImageDataset

    init() throws {
        let loaded = try CheckpointWithTestData(checkpoint: checkpoint, data: "mnist")
        model = try #require(loaded.model as? DEQSmall)
        test = loaded.test
    }

    func image(_ i: Int) -> Tensor { test.images.slice(rows: i..<(i + 1)).reshaped(test.imageShape) }

    func smoothing(
        _ mode: SmoothingMode, n: Int, seed: UInt64 = 0, check: Int = 100, sigma: Float = 0.25
    ) throws -> Smoothing<EquilibriumClassifier<DEQSmall>> {
        let anderson = SolverConfig(kind: .anderson, maxSteps: 10, tolerance: 1e-3, stopMode: .relative)
        let config = SmoothingConfiguration(
            sigma: sigma, n0: 50, n: n, alpha: 0.001, mode: mode,
            solver: mode == .srs ? SolverConfig(kind: .anderson, maxSteps: 1) : anderson,
            warmupSolver: anderson, baseSolver: anderson, auditStages: [check],
            chains: 50, chainsPerBlock: 50, seed: seed)
        return try Smoothing(model: EquilibriumClassifier(model), configuration: config)
    }

    @Test func sameSeedSameResultOtherSeedOtherNoise() throws {
        let a = try smoothing(.srs, n: 300).certify(image: image(0), index: 0)
        let b = try smoothing(.srs, n: 300).certify(image: image(0), index: 0)
        #expect(a.certificate == b.certificate && a.estimation == b.estimation && a.selection == b.selection)
        // Another seed: other check samples, and other noise — visible in the counts at σ = 1, where the model's
        // predictions vary (at σ = 0.25 it is unanimous on most images under any seed).
        let s0 = try smoothing(.srs, n: 300, sigma: 1), s1 = try smoothing(.srs, n: 300, seed: 1, sigma: 1)
        #expect(s0.auditPositions(image: 0, count: 100) != s1.auditPositions(image: 0, count: 100))
        var differs = false
        for i in 0..<10 where !differs {
            differs = s0.runPhase(image: image(i), index: i, phase: .estimation) != s1.runPhase(image: image(i), index: i, phase: .estimation)
        }
        #expect(differs, "a different seed must draw different noise")
    }

    @Test func standardAndSerializedAgreeWhereBothCertify() throws {
        let standard = try smoothing(.standard, n: 300), srs = try smoothing(.srs, n: 300)
        var both = 0
        for i in [0, 1, 2, 3, 4, 5] {
            let s = try standard.certify(image: image(i), index: i).certificate
            let r = try srs.certify(image: image(i), index: i).certificate
            if !s.abstained && !r.abstained {
                both += 1
                #expect(s.prediction == r.prediction, "image \(i): standard \(s.prediction), SRS \(r.prediction)")
            }
        }
        #expect(both >= 4, "the model should certify most of these easy images in both modes")
    }

    /// Over-claim: the SRS radius (the audit) above σ·Φ⁻¹(UCB) of a high-n standard estimate of p_A at the same
    /// α — impossible for a sound radius except with probability about α per image.
    @Test func serializedRadiusIsSound() throws {
        let srs = try smoothing(.srs, n: 500, check: 150)
        let reference = try smoothing(.standard, n: 2_000, seed: 7)
        for i in [0, 7, 11] {
            let r = try srs.certify(image: image(i), index: i)
            let est = reference.runPhase(image: image(i), index: i, phase: .estimation).counts
            let cA = r.selection.topClass
            let upper = try ClopperPearson.upperBound(successes: Double(est.counts[cA]), trials: Double(est.samples), alpha: 0.001)
            let ceiling = upper >= 1 ? Double.infinity : 0.25 * Normal.quantile(upper)
            #expect(r.certificate.radius <= ceiling, "image \(i): SRS radius \(r.certificate.radius) > \(ceiling)")
        }
    }
}
