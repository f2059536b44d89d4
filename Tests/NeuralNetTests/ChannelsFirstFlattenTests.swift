import NeuralNet
import TensorCore
// The flatten in PyTorch's (c, h, w) order: by hand, and its backward against finite differences.
import Testing
import _TestSupport

@Suite("ChannelsFirstFlatten")
struct ChannelsFirstFlattenTests {
    @Test func orderAndBackward() {
        let p = ParameterStore()
        // [1, 1, 2, 3]: positions (0,0), (0,1) with channels a, b, c → a₀ a₁ b₀ b₁ c₀ c₁.
        let x = Tensor(shape: [1, 1, 2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let (y, cache) = ChannelsFirstFlatten().forward(x, p)
        #expect(y.shape == [1, 6] && y.scalars == [1, 4, 2, 5, 3, 6])
        #expect(ChannelsFirstFlatten().backward(y, cache, p) == x)
        var rng = TestRandom(seed: 9)
        let e = layerGradientErrors(ChannelsFirstFlatten(), p, input: rng.tensor([2, 3, 4, 5]))
        #expect(e.input < 1e-3)
    }
}
