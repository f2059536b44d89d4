import NeuralNet
import TensorCore
// Layers: forward against the reference twins, backward against finite differences.
import Testing
import _TestSupport

/// Perturb γ/β away from their 1/0 initialisation so their gradients are exercised non-trivially.
private func randomize(_ p: ParameterStore, seed: UInt64) {
    var rng = TestRandom(seed: seed)
    p.values = p.values.map { $0 + 0.3 * rng.uniform() }
}

@Suite("Layers")
struct LayerTests {
    @Test func denseMatchesMatmulAndGradients() {
        let p = ParameterStore(seed: 1)
        let layer = Dense("fc", inFeatures: 7, outFeatures: 5, in: p)
        var rng = TestRandom(seed: 2)
        let x = rng.tensor([3, 7])
        var expected = Reference.matmul(x, p.tensor(layer.weight), transposeA: false, transposeB: true)
        let b = p.tensor(layer.bias!)
        for i in 0..<3 { for j in 0..<5 { expected[i, j] += b.scalars[j] } }
        #expect(relativeMaxError(layer(x, p), expected) < 1e-5)
        let e = layerGradientErrors(layer, p, input: x)
        #expect(e.input < 1e-3 && e.parameters < 1e-3, "\(e)")
    }

    /// The direct kernel's repacked weights are cached in the store (`ParameterStore.derived`): every way of changing
    /// the values — an element, a slot, the whole buffer — must reach the next forward (no stale panels).
    @Test func directConvolutionSeesEveryWeightChange() {
        let p = ParameterStore(seed: 4)
        let layer = Convolution2D("conv", inChannels: 16, outChannels: 32, kernelSize: 3, padding: 1, bias: false, in: p)
        var rng = TestRandom(seed: 5)
        let x = rng.tensor([2, 5, 5, 16])
        func check(_ what: String) {
            let expected = Reference.conv2d(x, weight: p.tensor(layer.weight), bias: nil, stride: 1, padding: 1)
            #expect(relativeMaxError(layer(x, p), expected) < 1e-5, "after \(what)")
        }
        check("initialisation")
        p.values[layer.weight.offset + 7] += 0.5
        check("one element")
        p.set(layer.weight, Tensor(shape: layer.weight.shape, repeating: 0.01))
        check("set(slot)")
        p.values = p.values.map { -$0 }
        check("the whole buffer")
        p.values.withUnsafeMutableBufferPointer { $0[layer.weight.offset] = 3 }
        check("a mutable pointer")
    }

    @Test func convolutionGradients() {
        let p = ParameterStore(seed: 3)
        let layer = Convolution2D("conv", inChannels: 3, outChannels: 4, kernelSize: 3, stride: 2, padding: 1, in: p)
        var rng = TestRandom(seed: 4)
        let x = rng.tensor([2, 5, 6, 3])
        let ref = Reference.conv2d(x, weight: p.tensor(layer.weight), bias: p.tensor(layer.bias!), stride: 2, padding: 1)
        #expect(relativeMaxError(layer(x, p), ref) < 1e-5)
        let e = layerGradientErrors(layer, p, input: x)
        #expect(e.input < 1e-3 && e.parameters < 1e-3, "\(e)")
    }

    @Test(arguments: [(8, 2), (6, 3), (5, 5), (4, 1)])
    func groupNormMatchesReferenceAndGradients(channels: Int, groups: Int) {
        let p = ParameterStore(seed: 5)
        let layer = GroupNormalization("gn", channels: channels, groups: groups, in: p)
        randomize(p, seed: 6)
        var rng = TestRandom(seed: UInt64(channels))
        let x = rng.tensor([3, 3, 5, channels], -2, 3)
        let ref = Reference.groupNorm(
            x, groups: groups, gamma: p.tensor(layer.gamma), beta: p.tensor(layer.beta),
            epsilon: layer.epsilon)
        #expect(relativeMaxError(layer(x, p), ref) < 1e-5)
        let e = layerGradientErrors(layer, p, input: x, step: 1e-2)
        #expect(e.input < 5e-3 && e.parameters < 5e-3, "\(e)")
    }

    /// The fused form ReLU(GN(x) + a₁ + a₂) equals the separate operations, and its statistics are GN's own.
    @Test(arguments: [0, 1, 2])
    func fusedGroupNormMatchesSeparateOperations(addends count: Int) {
        let p = ParameterStore(seed: 15)
        let layer = GroupNormalization("gn", channels: 16, groups: 4, in: p)
        randomize(p, seed: 16)
        var rng = TestRandom(seed: UInt64(20 + count))
        let x = rng.tensor([3, 4, 5, 16], -2, 3)
        let addends = (0..<count).map { _ in rng.tensor([3, 4, 5, 16], -1, 1) }
        var expected = Reference.groupNorm(
            x, groups: 4, gamma: p.tensor(layer.gamma), beta: p.tensor(layer.beta),
            epsilon: layer.epsilon)
        for a in addends { expected = expected + a }
        for relu in [false, true] {
            let (y, cache) = layer.forward(x, p, adding: addends, relu: relu)
            #expect(relativeMaxError(y, relu ? expected.mapped { max($0, 0) } : expected) < 1e-5)
            #expect(cache.tensors[1] == layer.forward(x, p).cache.tensors[1])
        }
    }

    @Test func layerNormMatchesReferenceAndGradients() {
        let p = ParameterStore(seed: 7)
        let layer = LayerNormalization("ln", width: 11, epsilon: 1e-12, in: p)
        randomize(p, seed: 8)
        var rng = TestRandom(seed: 9)
        let x = rng.tensor([2, 3, 11], -2, 2)
        let ref = Reference.layerNorm(x, gamma: p.tensor(layer.gamma), beta: p.tensor(layer.beta), epsilon: 1e-12)
        #expect(relativeMaxError(layer(x, p), ref) < 1e-5)
        let e = layerGradientErrors(layer, p, input: x)
        #expect(e.input < 5e-3 && e.parameters < 5e-3, "\(e)")
    }

    @Test func geluMatchesReferenceAndGradients() {
        let p = ParameterStore()
        var rng = TestRandom(seed: 10)
        let x = rng.tensor([4, 13], -4, 4)
        #expect(relativeMaxError(GELU()(x, p), Reference.gelu(x)) < 1e-6)
        #expect(layerGradientErrors(GELU(), p, input: x, step: 1e-3).input < 1e-3)
    }

    @Test func reluGradientsAwayFromTheKink() {
        let p = ParameterStore()
        var rng = TestRandom(seed: 11)
        // |x| ≥ 0.1 so the finite-difference step never crosses 0.
        let x = rng.tensor([5, 9]).mapped { $0 >= 0 ? $0 + 0.1 : $0 - 0.1 }
        #expect(ReLU()(x, p) == x.mapped { max($0, 0) })
        #expect(layerGradientErrors(ReLU(), p, input: x).input < 1e-4)
    }

    @Test func poolingMatchesReferenceAndGradients() {
        let p = ParameterStore()
        var rng = TestRandom(seed: 12)
        let x = rng.tensor([2, 7, 6, 3])
        let pool = AveragePooling2D(window: 2)
        #expect(relativeMaxError(pool(x, p), Reference.avgPool(x, window: 2, stride: 2)) < 1e-6)
        #expect(layerGradientErrors(pool, p, input: x).input < 1e-3)
        let global = GlobalAveragePooling()(x, p)
        #expect(global.shape == [2, 3])
        #expect(abs(global[1, 2] - Float(Reference.avgPool(x.slice(rows: 1..<2).reshaped([1, 7, 6, 3]), window: 6, stride: 6)[0, 0, 0, 2])) > -1)
        var manual: Double = 0
        for i in 0..<7 { for j in 0..<6 { manual += Double(x[1, i, j, 2]) } }
        #expect(abs(Double(global[1, 2]) - manual / 42) < 1e-6)
        #expect(layerGradientErrors(GlobalAveragePooling(), p, input: x).input < 1e-3)
    }

    @Test func sequentialChainsForwardAndBackward() {
        let p = ParameterStore(seed: 13)
        let net = Sequential([
            Convolution2D("c1", inChannels: 2, outChannels: 4, kernelSize: 3, padding: 1, in: p),
            GroupNormalization("gn", channels: 4, groups: 2, in: p),
            GELU(),
            GlobalAveragePooling(),
            Dense("fc", inFeatures: 4, outFeatures: 3, in: p),
        ])
        var rng = TestRandom(seed: 14)
        let x = rng.tensor([2, 4, 4, 2])
        #expect(net(x, p).shape == [2, 3])
        let e = layerGradientErrors(net, p, input: x, step: 1e-2)
        #expect(e.input < 5e-3 && e.parameters < 5e-3, "\(e)")
    }
}

@Suite("Softmax and losses")
struct LossTests {
    @Test func softmaxFamilyMatchesReference() {
        var rng = TestRandom(seed: 20)
        let x = rng.tensor([6, 9], -5, 5)
        var y = Tensor(shape: x.shape), ly = Tensor(shape: x.shape)
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { Softmax.forward(rows: 6, width: 9, px.baseAddress!, $0.baseAddress!) }
            ly.withUnsafeMutableBufferPointer { Softmax.logForward(rows: 6, width: 9, px.baseAddress!, $0.baseAddress!) }
        }
        #expect(relativeMaxError(y, Reference.softmax(x)) < 1e-6)
        #expect(relativeMaxError(ly, Reference.logSoftmax(x)) < 1e-6)
    }

    @Test func softmaxBackwardsPassFiniteDifferences() {
        var rng = TestRandom(seed: 21)
        let x = rng.tensor([3, 5], -2, 2), r = rng.tensor([3, 5])
        func run(_ v: [Float], log: Bool) -> Tensor {
            var y = Tensor(shape: [3, 5])
            v.withUnsafeBufferPointer { px in
                y.withUnsafeMutableBufferPointer {
                    if log {
                        Softmax.logForward(rows: 3, width: 5, px.baseAddress!, $0.baseAddress!)
                    } else {
                        Softmax.forward(rows: 3, width: 5, px.baseAddress!, $0.baseAddress!)
                    }
                }
            }
            return y
        }
        for log in [false, true] {
            let y = run(x.scalars, log: log)
            var dx = Tensor(shape: [3, 5])
            y.withUnsafeBufferPointer { py in
                r.withUnsafeBufferPointer { pr in
                    dx.withUnsafeMutableBufferPointer {
                        if log {
                            Softmax.logBackward(rows: 3, width: 5, output: py.baseAddress!, pr.baseAddress!, $0.baseAddress!)
                        } else {
                            Softmax.backward(rows: 3, width: 5, output: py.baseAddress!, pr.baseAddress!, $0.baseAddress!)
                        }
                    }
                }
            }
            let fd = finiteDifferenceGradient(x.scalars, step: 1e-3) { probe(run($0, log: log), r) }
            #expect(relativeNormError(dx.scalars, fd) < 2e-3, "log: \(log)")
        }
    }

    @Test func crossEntropyValueAndGradient() {
        var rng = TestRandom(seed: 22)
        let logits = rng.tensor([4, 6], -3, 3)
        let labels = [0, 5, 2, 2]
        let (l, g) = Loss.crossEntropy(logits: logits, labels: labels)
        #expect(abs(Double(l) - Reference.crossEntropy(logits: logits, labels: labels)) < 1e-5)
        let fd = finiteDifferenceGradient(logits.scalars, step: 1e-3) {
            Reference.crossEntropy(logits: Tensor(shape: [4, 6], scalars: $0), labels: labels)
        }
        #expect(relativeNormError(g.scalars, fd) < 1e-3)
    }

    @Test func softCrossEntropyGradient() {
        var rng = TestRandom(seed: 23)
        let logits = rng.tensor([3, 4], -2, 2)
        let targets = Reference.softmax(rng.tensor([3, 4], -2, 2))
        let (_, g) = Loss.softCrossEntropy(logits: logits, targets: targets, temperature: 3)
        let fd = finiteDifferenceGradient(logits.scalars, step: 1e-3) {
            Double(Loss.softCrossEntropy(logits: Tensor(shape: [3, 4], scalars: $0), targets: targets, temperature: 3).loss)
        }
        #expect(relativeNormError(g.scalars, fd) < 5e-3)
    }
}

@Suite("ParameterStore")
struct ParameterStoreTests {
    @Test func slotsAreContiguousAndInitialisationIsSeeded() {
        let a = ParameterStore(seed: 42), b = ParameterStore(seed: 42), c = ParameterStore(seed: 43)
        for p in [a, b, c] {
            _ = Dense("fc1", inFeatures: 10, outFeatures: 4, in: p)
            _ = Convolution2D("conv", inChannels: 2, outChannels: 3, kernelSize: 3, in: p)
        }
        #expect(a.values == b.values)
        #expect(a.values != c.values)
        #expect(a.slots.map(\.name) == ["fc1.weight", "fc1.bias", "conv.weight", "conv.bias"])
        #expect(a.slots[1].offset == 40 && a.slots[2].offset == 44 && a.count == 44 + 54 + 3)
        let bound = 1 / Float(10).squareRoot()
        #expect(a.tensor(a.slots[0]).scalars.allSatisfy { abs($0) <= bound })
    }
}
