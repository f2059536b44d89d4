import NeuralNet
import TensorCore
// Plugging the robust rule into a ViT: calibration from clean distances, per-layer penalties, gradients of the
// whole model through the robust layers, and the errors of bad settings.
import Testing
import Transformers
import _TestSupport

@testable import RobustAttention

struct ViTAsLayer: Layer {
    let vit: VisionTransformer
    func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) { let (y, c) = vit.forward(x, p); return (y, c) }
    func backward(_ dy: Tensor, _ c: LayerCache, _ p: ParameterStore) -> Tensor { vit.backward(dy, c, p) }
}

@Suite("Robust attention plug-in")
struct PluginTests {
    static let tiny = ViTConfiguration(
        imageHeight: 8, imageWidth: 8, channels: 1, patchSize: 2, hiddenSize: 8,
        layerCount: 2, headCount: 2, mlpSize: 12, classes: 3)

    @Test("calibration: the quantiles are those of the clean distances; auto γ/δ land per layer; vanilla changes nothing")
    func calibrationAndInstall() throws {
        let p = ParameterStore(seed: 2)
        var vit = VisionTransformer(Self.tiny, in: p, weightInit: .normal(std: 0.5))
        var r = TestRandom(seed: 3)
        let x = r.tensor([3, 8, 8, 1], 0, 1)
        let plain = vit(x, p)

        // The recorder's distances: against a direct computation for layer 0 (A and V recomputed by hand would
        // duplicate the encoder; instead check the recorder's invariants: count and the quantile's order).
        let settings = try RobustAttentionSettings(rule: .mcp, steps: 3)
        let calibration = try vit.installRobustAttention(settings) { model in _ = model(x, p) }
        let c = try #require(calibration)
        #expect(c.layerCount == 2)
        // 3 images × 2 heads × 16 queries × 16 keys (no padding: all weights > 0).
        #expect(c.sampleCount(layer: 0) == 3 * 2 * 16 * 16 && c.sampleCount(layer: 1) == 3 * 2 * 16 * 16)
        for l in 0..<2 {
            #expect(c.quantile(0.1, layer: l) < c.quantile(0.5, layer: l) && c.quantile(0.5, layer: l) < c.quantile(0.9, layer: l))
            let pen = try settings.penalty(layer: l, calibration: c)
            #expect(pen == .mcp(gamma: c.quantile(0.9, layer: l)))
        }
        let robust = vit(x, p)
        #expect(relativeMaxError(robust, plain) > 1e-4)  // the rule is really in place

        try vit.installRobustAttention(try RobustAttentionSettings(rule: .vanilla)) { _ in Issue.record("no calibration needed") }
        #expect(relativeMaxError(vit(x, p), plain) < 1e-6)
        // Absolute parameters need no calibration pass.
        try vit.installRobustAttention(try RobustAttentionSettings(rule: .huber, delta: .absolute(0.3))) { _ in Issue.record("no calibration needed")
        }
        #expect(relativeMaxError(vit(x, p), plain) > 1e-4)
        #expect(try RobustAttentionSettings(rule: .huber, delta: .absolute(0.3)).summary(layers: 2, calibration: nil).contains("huber(δ=0.3)"))
    }

    @Test("the whole ViT with MCP attention: input and parameter gradients match finite differences")
    func wholeModelGradient() throws {
        let p = ParameterStore(seed: 4)
        var vit = VisionTransformer(Self.tiny, in: p, weightInit: .normal(std: 0.4))
        var r = TestRandom(seed: 5)
        let x = r.tensor([2, 8, 8, 1], 0, 1)
        // γ near the middle of the clean distances so the reweighting is active (not clamped).
        try vit.installRobustAttention(try RobustAttentionSettings(rule: .mcp, steps: 2, gamma: .quantile(0.6))) { m in _ = m(x, p) }
        let e = layerGradientErrors(ViTAsLayer(vit: vit), p, input: x, step: 3e-3)
        #expect(e.input < 2e-2 && e.parameters < 2e-2, "\(e)")
    }

    @Test("bad settings are refused with the option named")
    func badSettings() throws {
        #expect(throws: RobustAttentionError.self) { try RobustAttentionSettings(rule: .huberMCP, gamma: .absolute(1), delta: .absolute(2)) }
        #expect(throws: RobustAttentionError.self) { try RobustAttentionSettings(rule: .huberMCP, gamma: .quantile(0.4), delta: .quantile(0.5)) }
        #expect(throws: RobustAttentionError.self) { try RobustAttentionSettings(rule: .mcp, steps: -1) }
        #expect(throws: RobustAttentionError.self) { try DistanceParameter(parsing: "-2", name: "gamma", defaultQuantile: 0.9) }
        #expect(throws: RobustAttentionError.self) { try DistanceParameter(parsing: "q1.5", name: "gamma", defaultQuantile: 0.9) }
        #expect(try DistanceParameter(parsing: "auto", name: "gamma", defaultQuantile: 0.9) == .quantile(0.9))
        #expect(try DistanceParameter(parsing: "q0.75", name: "gamma", defaultQuantile: 0.9) == .quantile(0.75))
        #expect(try DistanceParameter(parsing: "4", name: "gamma", defaultQuantile: 0.9) == .absolute(4))
        let p = ParameterStore(seed: 1)
        var empty = VisionTransformer(
            ViTConfiguration(
                imageHeight: 8, imageWidth: 8, patchSize: 4, hiddenSize: 8, layerCount: 0,
                headCount: 2, mlpSize: 8, classes: 2), in: p)
        #expect(throws: RobustAttentionError.self) {
            try empty.installRobustAttention(try RobustAttentionSettings(rule: .l1)) { _ in }
        }
    }
}
