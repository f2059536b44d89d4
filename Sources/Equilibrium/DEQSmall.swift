import NeuralNet
import TensorCore

/// DEQ-S, exactly as docs/models.md §1 (channels-last; weights in PyTorch layout):
///
///     x_n      = (x − mean)/std
///     inject(x) = ReLU(GN0(conv_s(x_n)))                      conv_s: 3×3, stride s, pad 1, c → C
///     f(z; x̃)  = GN3(ReLU(z + GN2(conv2(ReLU(GN1(conv1(z))))) + x̃))
///                                                             conv1: 3×3 pad 1, C → E·C; conv2: E·C → C
///     head(z)  = Linear(C → classes)(mean over positions of z)            (head = mean-pool)
///              | Linear(2C → classes)(mean ∘ ReLU ∘ GN4 ∘ conv_h(z))     (head = downsample, conv_h 3×3 s2)
///              | Linear(2C·7·7 → classes)(flatten ∘ ReLU ∘ GN4 ∘ conv_h(z)) (head = flatten; columns in PyTorch's
///                (c, h, w) order, or (h, w, c) for checkpoints older than `DEQConfiguration.flattenOrder`)
///
/// Convolutions have no bias (each is followed by an affine GroupNorm, which makes a bias redundant).
/// Parameter names: `inject.conv`, `inject.norm`, `block.conv1`, `block.norm1`, `block.conv2`, `block.norm2`,
/// `block.norm3`, `head.conv`, `head.norm`, `head.fc` (+ `.weight`/`.bias`).
public struct DEQSmall: EquilibriumModel, @unchecked Sendable {
    // @unchecked: `parameters` is a reference type; a model is used by one thread at a time.
    public let configuration: DEQConfiguration
    public let parameters: ParameterStore

    let injectConv: Convolution2D, injectNorm: GroupNormalization
    let conv1: Convolution2D, norm1: GroupNormalization
    let conv2: Convolution2D, norm2: GroupNormalization, norm3: GroupNormalization
    let headLayers: Sequential

    public var classes: Int { configuration.classes }

    /// Build with freshly initialised parameters (deterministic for a seed).
    public init(_ c: DEQConfiguration, seed: UInt64 = 0) throws(EquilibriumError) {
        try c.validate()
        configuration = c
        let p = ParameterStore(seed: seed)
        parameters = p
        let ch = c.channels, wide = c.channels * c.expansion
        injectConv = Convolution2D(
            "inject.conv", inChannels: c.inputChannels, outChannels: ch, kernelSize: 3,
            stride: c.injectionStride, padding: 1, bias: false, in: p)
        injectNorm = GroupNormalization("inject.norm", channels: ch, groups: c.groups, epsilon: c.epsilon, in: p)
        conv1 = Convolution2D("block.conv1", inChannels: ch, outChannels: wide, kernelSize: 3, padding: 1, bias: false, in: p)
        norm1 = GroupNormalization("block.norm1", channels: wide, groups: c.groups, epsilon: c.epsilon, in: p)
        conv2 = Convolution2D("block.conv2", inChannels: wide, outChannels: ch, kernelSize: 3, padding: 1, bias: false, in: p)
        norm2 = GroupNormalization("block.norm2", channels: ch, groups: c.groups, epsilon: c.epsilon, in: p)
        norm3 = GroupNormalization("block.norm3", channels: ch, groups: c.groups, epsilon: c.epsilon, in: p)
        switch c.head {
        case .meanPool:
            headLayers = Sequential([GlobalAveragePooling(), Dense("head.fc", inFeatures: ch, outFeatures: c.classes, in: p)])
        case .flatten:
            let h = (c.stateHeight - 1) / 2 + 1, w = (c.stateWidth - 1) / 2 + 1
            headLayers = Sequential([
                Convolution2D(
                    "head.conv", inChannels: ch, outChannels: 2 * ch, kernelSize: 3, stride: 2, padding: 1,
                    bias: false, in: p),
                GroupNormalization("head.norm", channels: 2 * ch, groups: c.groups, epsilon: c.epsilon, in: p),
                ReLU(), c.flattenOrder == .channelsFirst ? ChannelsFirstFlatten() as any Layer : Flatten(),
                Dense("head.fc", inFeatures: 2 * ch * h * w, outFeatures: c.classes, in: p),
            ])
        case .downsample:
            headLayers = Sequential([
                Convolution2D(
                    "head.conv", inChannels: ch, outChannels: 2 * ch, kernelSize: 3, stride: 2, padding: 1,
                    bias: false, in: p),
                GroupNormalization("head.norm", channels: 2 * ch, groups: c.groups, epsilon: c.epsilon, in: p),
                ReLU(), GlobalAveragePooling(),
                Dense("head.fc", inFeatures: 2 * ch, outFeatures: c.classes, in: p),
            ])
        }
    }

    public func stateShape(batch: Int) -> [Int] {
        [batch, configuration.stateHeight, configuration.stateWidth, configuration.channels]
    }

    public func inject(_ x: Tensor) -> (injection: Tensor, cache: LayerCache) {
        let c = configuration
        precondition(
            x.rank == 4 && Array(x.shape.dropFirst()) == [c.inputHeight, c.inputWidth, c.inputChannels],
            "DEQ-S expects [B, \(c.inputHeight), \(c.inputWidth), \(c.inputChannels)], got \(x.shape)")
        let inv = 1 / c.normalizationStd, mean = c.normalizationMean
        let xn = x.mapped { ($0 - mean) * inv }
        let (a, ca) = injectConv.forward(xn, parameters)
        let (n, cn) = injectNorm.forward(a, parameters)
        let (r, cr) = ReLU().forward(n, parameters)
        return (r, LayerCache(children: [ca, cn, cr]))
    }

    public func injectBackward(_ g: Tensor, _ cache: LayerCache) -> Tensor {
        var d = ReLU().backward(g, cache.children[2], parameters)
        d = injectNorm.backward(d, cache.children[1], parameters)
        d = injectConv.backward(d, cache.children[0], parameters)
        return (1 / configuration.normalizationStd) * d
    }

    /// f with the normalisations fused with what follows them (ReLU after GN1; the residual sum and ReLU in
    /// GN2's last pass): the same function as the layer-by-layer definition above, two passes over memory fewer.
    public func f(_ z: Tensor, _ injection: Tensor) -> (output: Tensor, cache: LayerCache) {
        let p = parameters
        let (a1, c1) = conv1.forward(z, p)
        let (r1, cn1) = norm1.forward(a1, p, adding: [], relu: true)  // ReLU(GN1(conv1 z))
        let (a2, c2) = conv2.forward(r1, p)
        let (s, cn2) = norm2.forward(a2, p, adding: [z, injection], relu: true)  // ReLU(z + GN2(…) + x̃)
        let (out, cn3) = norm3.forward(s, p)
        return (out, LayerCache(tensors: [s, r1], children: [c1, cn1, c2, cn2, cn3]))
    }

    /// Samples per block of `map` (see there).
    static let mapBlock = 16

    /// f without a cache, block by block of 16 samples: every operation of f is per sample, so a block's
    /// intermediates (≈ 1 MB at C = 32) stay in L2 instead of streaming batch-sized tensors through memory between
    /// the layers. The layers read the block's rows of z and x̃ in place and GN3 writes into the output's rows (no
    /// copies of z, x̃ or the output; four block-sized buffers reused by every block). Bit-identical to
    /// `f(z, x̃).output` (the same kernels on the same rows; each output's sums run in the same order either way).
    /// z, x̃: [B, H, W, C]; intermediates per block: conv1 and ReLU∘GN1 [b, H, W, E·C], conv2 and the residual sum
    /// [b, H, W, C].
    public func map(_ z: Tensor, _ injection: Tensor) -> Tensor {
        precondition(z.rank == 4 && injection.shape == z.shape, "DEQ-S map: z \(z.shape), injection \(injection.shape)")
        let b = z.shape[0], block = min(b, Self.mapBlock)
        let (h, w) = (z.shape[1], z.shape[2])
        let rowSize = z.count / b, positions = h * w
        let wideRow = positions * conv1.outChannels
        let p = parameters
        func buffer(_ count: Int) -> [Float] { [Float](unsafeUninitializedCapacity: count) { _, n in n = count } }
        var a1 = buffer(block * wideRow), r1 = buffer(block * wideRow)
        var a2 = buffer(block * rowSize), s = buffer(block * rowSize)
        return Tensor(shape: z.shape) { out in
            z.withUnsafeBufferPointer { pz in
                injection.withUnsafeBufferPointer { pi in
                    a1.withUnsafeMutableBufferPointer { pa1 in
                        r1.withUnsafeMutableBufferPointer { pr1 in
                            a2.withUnsafeMutableBufferPointer { pa2 in
                                s.withUnsafeMutableBufferPointer { ps in
                                    var b0 = 0
                                    while b0 < b {
                                        let rows = min(b, b0 + block) - b0
                                        let zb = pz.baseAddress! + b0 * rowSize, ib = pi.baseAddress! + b0 * rowSize
                                        let (a1p, r1p) = (pa1.baseAddress!, pr1.baseAddress!)
                                        let (a2p, sp) = (pa2.baseAddress!, ps.baseAddress!)
                                        conv1.forward(batch: rows, height: h, width: w, input: zb, output: a1p, p)
                                        // ReLU(GN1(conv1 z))
                                        norm1.forward(batch: rows, positions: positions, x: a1p, y: r1p, adding: nil, nil, relu: true, p)
                                        conv2.forward(batch: rows, height: h, width: w, input: r1p, output: a2p, p)
                                        // ReLU(z + GN2(…) + x̃)
                                        norm2.forward(batch: rows, positions: positions, x: a2p, y: sp, adding: zb, ib, relu: true, p)
                                        norm3.forward(
                                            batch: rows, positions: positions, x: sp, y: out.baseAddress! + b0 * rowSize,
                                            adding: nil, nil, relu: false, p)
                                        b0 += rows
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    public func fBackward(_ g: Tensor, _ cache: LayerCache) -> (state: Tensor, injection: Tensor) {
        let p = parameters, ch = cache.children
        let s = cache.tensors[0], r1 = cache.tensors[1]
        var gs = norm3.backward(g, ch[4], p)
        Self.maskByPositive(&gs, s)  // through ReLU(z + GN2 + x̃)
        var d = norm2.backward(gs, ch[3], p)
        d = conv2.backward(d, ch[2], p)
        Self.maskByPositive(&d, r1)  // through ReLU(GN1)
        d = norm1.backward(d, ch[1], p)
        var gz = conv1.backward(d, ch[0], p)
        gz += gs
        return (gz, gs)
    }

    /// g ← g · 1[y > 0] (the ReLU backward from its output).
    static func maskByPositive(_ g: inout Tensor, _ y: Tensor) {
        g.withUnsafeMutableBufferPointer { pg in
            y.withUnsafeBufferPointer { py in
                for i in 0..<pg.count where py[i] <= 0 { pg[i] = 0 }
            }
        }
    }

    public func head(_ z: Tensor) -> (logits: Tensor, cache: LayerCache) {
        let (y, c) = headLayers.forward(z, parameters)
        return (y, c)
    }
    public func headBackward(_ g: Tensor, _ cache: LayerCache) -> Tensor { headLayers.backward(g, cache, parameters) }
}

extension DEQSmall {
    /// The same function with the flatten head's weight columns in `order` (a permutation of `head.fc.weight`'s
    /// columns between (h, w, c) and (c, h, w)); every other parameter copied. For exporting an old checkpoint in
    /// PyTorch's order: the result's logits equal this model's (up to nothing: the products are the same).
    public func withFlattenOrder(_ order: DEQConfiguration.FlattenOrder) throws(EquilibriumError) -> DEQSmall {
        var c = configuration
        c.flattenOrder = order
        let m = try DEQSmall(c, seed: parameters.seed)
        m.parameters.values = parameters.values
        guard c.head == .flatten, order != configuration.flattenOrder, let slot = parameters.slot(named: "head.fc.weight") else { return m }
        let h = (c.stateHeight - 1) / 2 + 1, w = (c.stateWidth - 1) / 2 + 1, ch = 2 * c.channels
        let old = parameters.tensor(slot)
        var new = old
        for k in 0..<c.classes {
            for y in 0..<h {
                for x in 0..<w {
                    for j in 0..<ch {
                        let hwc = (y * w + x) * ch + j, chw = (j * h + y) * w + x
                        if order == .channelsFirst {
                            new.scalars[k * old.shape[1] + chw] = old.scalars[k * old.shape[1] + hwc]
                        } else {
                            new.scalars[k * old.shape[1] + hwc] = old.scalars[k * old.shape[1] + chw]
                        }
                    }
                }
            }
        }
        m.parameters.set(slot, new)
        return m
    }
}
