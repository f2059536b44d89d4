import Certification
import Coordinator
import Datasets
import Distributed
import Equilibrium
// Standard smoothing of a ViT (with plain and robust attention) through the same certify job as DEQs:
// identical results at any rank count, SRS refused, and the robust rule really in the smoothed classifier.
import Foundation
import NeuralNet
import RobustAttention
import TensorCore
import Testing
import Transformers
import _TestSupport

@Suite("Transformer smoothing")
struct TransformerSmoothingTests {
    static func classifier(robust: Bool) throws -> ViTSmoothingClassifier {
        let c = ViTConfiguration(
            imageHeight: 8, imageWidth: 8, channels: 1, patchSize: 2, hiddenSize: 8, layerCount: 2,
            headCount: 2, mlpSize: 12, classes: 3)
        let p = ParameterStore(seed: 9)
        var vit = VisionTransformer(c, in: p, weightInit: .normal(std: 0.5))
        if robust {
            var r = TestRandom(seed: 1)
            let calib = r.tensor([4, 8, 8, 1], -1, 1)
            try vit.installRobustAttention(try RobustAttentionSettings(rule: .mcp, steps: 3)) { m in _ = m(calib, p) }
        }
        return ViTSmoothingClassifier(model: vit, parameters: p, normalization: (0.5, 0.3))
    }

    static func config(_ mode: SmoothingMode) -> SmoothingConfiguration {
        let s = SolverConfig(kind: .naive, maxSteps: 1, tolerance: 0)
        return SmoothingConfiguration(
            sigma: 0.3, n0: 20, n: 100, alpha: 0.05, mode: mode, solver: s, warmupSolver: s,
            baseSolver: s, auditStages: [20], chains: 20, chainsPerBlock: 10, seed: 3)
    }

    @Test("ViT standard smoothing: same certificates at 1 and 3 ranks; robust attention changes the counts; SRS refused")
    func vitSmoothing() throws {
        var r = TestRandom(seed: 2)
        let data = ImageDataset(
            name: "synthetic", images: r.tensor([3, 8, 8, 1], 0, 1), labels: [0, 1, 2],
            classNames: ["a", "b", "c"], mean: [0.5], std: [0.3])
        func run(robust: Bool, size: Int) throws -> [String] {
            let clf = try Self.classifier(robust: robust)
            let job = CertifyJob(
                smoothing: try Smoothing(model: clf, configuration: Self.config(.standard)), data: data,
                images: [0, 1, 2])
            let perRank = try ThreadGroup.run(size: size, timeout: 120) { comm -> [String] in
                var rows: [String] = []
                _ = try job.run(on: comm) { rows.append("\($0.index) \($0.certificate) \($0.estimation.counts)") }
                return rows
            }
            return perRank[0]
        }
        let one = try run(robust: false, size: 1)
        #expect(one.count == 3)
        #expect(try run(robust: false, size: 3) == one)
        let robust = try run(robust: true, size: 1)
        #expect(try run(robust: true, size: 3) == robust)
        #expect(robust != one)
        #expect(throws: CertificationError.self) { try Smoothing(model: try Self.classifier(robust: false), configuration: Self.config(.srs)) }
    }
}
