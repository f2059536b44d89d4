import Datasets
import Foundation
import NeuralNet
import Optimizers
import TensorCore
import Testing
import _TestSupport

@testable import Transformers

/// The ViT as a `Layer` (images → logits) for the shared finite-difference checker.
struct ViTLayer: Layer {
    let vit: VisionTransformer
    func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        let (y, c) = vit.forward(x, p); return (y, c)
    }
    func backward(_ dy: Tensor, _ c: LayerCache, _ p: ParameterStore) -> Tensor { vit.backward(dy, c, p) }
}

@Suite("Vision transformer (pre-LN)")
struct VisionTransformerTests {
    static let tiny = ViTConfiguration(
        imageHeight: 8, imageWidth: 8, channels: 2, patchSize: 4, hiddenSize: 8,
        layerCount: 2, headCount: 2, mlpSize: 12, classes: 3)

    @Test("patches: (row, column, channel) order, and unpatch inverts it")
    func patches() {
        var rng = TestRandom(seed: 1)
        let x = rng.tensor([2, 8, 8, 2])
        let y = VisionTransformer.patches(x, Self.tiny)
        #expect(y.shape == [2, 4, 32])
        // Patch 3 of image 1 is the bottom-right 4×4 block; its feature (di·4 + dj)·2 + c.
        #expect(y[1, 3, (1 * 4 + 2) * 2 + 1] == x[1, 5, 6, 1])
        #expect(y[0, 1, 0] == x[0, 0, 4, 0])
        #expect(VisionTransformer.unpatch(y, Self.tiny) == x)
    }

    @Test("whole ViT: image and every parameter gradient match finite differences")
    func gradients() {
        let p = ParameterStore(seed: 4)
        let vit = VisionTransformer(Self.tiny, in: p, weightInit: .normal(std: 0.4))
        var rng = TestRandom(seed: 5)
        p.set(vit.position, rng.tensor([4, 8]))  // non-trivial positions so their gradient is exercised
        let e = layerGradientErrors(ViTLayer(vit: vit), p, input: rng.tensor([2, 8, 8, 2]), step: 1e-2)
        #expect(e.input < 1e-2 && e.parameters < 1e-2, "\(e)")
        #expect(p.slot(named: "blocks.1.mlp.fc2.weight")?.shape == [8, 12])
    }

    @Test("a small ViT (7×7 patches, d 32, 2 blocks) learns 256 MNIST digits with AdamW: training loss falls well below ln 10")
    func learnsMNISTSubset() throws {
        let dir = try DataLocator.process.locate("mnist", requiring: [])
        let train = try ImageDataset.mnist(directory: dir, split: .train)
        let (x, labels) = train.batch(Array(0..<256))
        let c = ViTConfiguration(patchSize: 7, hiddenSize: 32, layerCount: 2, headCount: 4, mlpSize: 64, classes: 10)
        let p = ParameterStore(seed: 1)
        let vit = VisionTransformer(c, in: p)
        var opt = try AdamW(weightDecay: 0.01)
        var losses: [Float] = []
        for step in 0..<60 {
            let idx = (0..<64).map { (step * 64 + $0) % 256 }
            let xb = Tensor.concatenate(rows: idx.map { x.slice(rows: $0..<($0 + 1)) })
            p.zeroGradients()
            let (logits, cache) = vit.forward(xb, p)
            let (loss, g) = Loss.crossEntropy(logits: logits, labels: idx.map { labels[$0] })
            vit.backward(g, cache, p)
            opt.step(parameters: &p.values, gradients: p.gradients, learningRate: 3e-3)
            losses.append(loss)
        }
        let first = losses.prefix(4).reduce(0, +) / 4, last = losses.suffix(4).reduce(0, +) / 4
        #expect(first > 2.0 && last < 1.0, "loss \(first) → \(last)")
    }

    @Test("pre-LN block alone: input and parameter gradients")
    func block() {
        let p = ParameterStore(seed: 6)
        let block = PreLNBlock("b", hiddenSize: 8, headCount: 2, mlpSize: 12, epsilon: 1e-6, in: p, weightInit: .normal(std: 0.4))
        var rng = TestRandom(seed: 7)
        p.values = p.values.map { $0 + 0.1 * rng.uniform() }  // LayerNorm γ, β away from 1, 0
        let e = layerGradientErrors(BlockLayer(block: block), p, input: rng.tensor([2, 3, 8]), step: 1e-2)
        #expect(e.input < 1e-2 && e.parameters < 1e-2, "\(e)")
    }
}

struct BlockLayer: Layer {
    let block: PreLNBlock
    func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) { block.forward(x, p) }
    func backward(_ dy: Tensor, _ c: LayerCache, _ p: ParameterStore) -> Tensor { block.backward(dy, c, p) }
}
