import NeuralNet
import TensorCore

/// The multiscale DEQ (MDEQ; Bai, Koltun & Kolter 2020) for classification, channels-last.
///
/// Branch i has the state zᵢ [B, hᵢ, wᵢ, Cᵢ] with hᵢ = h₀/2ⁱ; the solvers see all branches packed per sample in one
/// state z [B, S], S = Σᵢ hᵢwᵢCᵢ (branch 0 first, each branch in (h, w, c) order), so every solver, warm start,
/// SRS and the audit apply unchanged.
///
///     inject(x) = x̃₀ = [ReLU ∘ conv1×1] ∘ ReLU ∘ conv₃ ∘ ReLU ∘ conv₃((x − mean)/std)   [B, h₀, w₀, C₀]
///                 (stem convs with bias: MDEQ's BatchNorms folded in; x̃ᵢ = 0 for i > 0, as in MDEQ)
///     blockᵢ(zᵢ)  = GN3(ReLU(GN2(conv2(ReLU(GN1(conv1 zᵢ))) + x̃ᵢ) + zᵢ))    conv1: Cᵢ → E·Cᵢ, conv2: E·Cᵢ → Cᵢ, 3×3
///     fusion      uᵢ = ReLU(Σⱼ Tᵢⱼ(yⱼ)),  yⱼ = blockⱼ(zⱼ)
///                 Tᵢᵢ = id;  j > i: Up_{2^(j−i)} ∘ GN ∘ conv1×1 (Cⱼ → Cᵢ), nearest upsampling;
///                 j < i: i − j stride-2 3×3 convs each followed by GN (ReLU between them), Cⱼ → … → Cᵢ
///     f(z; x̃)ᵢ    = GN_{G/2}(conv1×1(uᵢ))    (one branch: f(z; x̃) = block₀(z₀), no fusion)
///     head(z)     = Linear(GAP(ReLU(conv1×1(hₙ₋₁)))),  h₀ = Bot₀(z₀),  hᵢ = Botᵢ(zᵢ) + ReLU(conv3×3,s2(hᵢ₋₁))
///                 Bot(x) = ReLU(conv1×1 ∘ ReLU ∘ conv3×3 ∘ ReLU ∘ conv1×1(x) + [conv1×1](x)), output 4·headChannels
///
/// Parameters carry the names of the public MDEQ-Vision `state_dict` after folding (weight norm and BatchNorm
/// folded into the preceding convolution, which then has a bias): `downsample.0`, `downsample.3`, `stage0.0`,
/// `fullstage.branches.i.blocks.0.{conv1,gn1,conv2,gn2,gn3}`, `fullstage.fuse_layers.i.j.net[.k].{conv,gnorm}`,
/// `fullstage.post_fuse_layers.i.{conv,gnorm}`, `incre_modules.i.0.{conv1,conv2,conv3,downsample.0}`,
/// `downsamp_modules.i.0`, `final_layer.0`, `classifier` (+ `.weight`/`.bias`). See `MDEQ+Import.swift`.
/// The injection x̃ is branch 0's only ([B, h₀, w₀, C₀], not the state's shape). MDEQ's variational dropout (a training
/// regulariser, identity in eval mode) is not modelled; one block per branch (NUM_BLOCKS = 1, as every public YAML).
public struct MDEQ: EquilibriumModel, @unchecked Sendable {
    // @unchecked: `parameters` is a reference type; a model is used by one thread at a time.
    public let configuration: MDEQConfiguration
    public let parameters: ParameterStore

    struct Block {
        let conv1: Convolution2D, gn1: GroupNormalization, conv2: Convolution2D, gn2: GroupNormalization, gn3: GroupNormalization
    }
    /// Tᵢⱼ of the fusion.
    enum Fuse {
        case identity
        case up(Convolution2D, GroupNormalization, Upsample2D)
        case down([(Convolution2D, GroupNormalization)])
    }
    struct Bottleneck {
        let conv1: Convolution2D, conv2: Convolution2D, conv3: Convolution2D, shortcut: Convolution2D?
    }

    let stem: [Convolution2D]
    let stage0: Convolution2D?
    let blocks: [Block]
    let fuse: [[Fuse]]
    let postConv: [Convolution2D], postNorm: [GroupNormalization]
    let increments: [Bottleneck]
    let headDownsample: [Convolution2D]
    let finalConv: Convolution2D
    let classifier: Dense

    public var classes: Int { configuration.classes }
    /// One sample's input [H, W, c] (for `EquilibriumClassifier`).
    public var inputShape: [Int] { [configuration.inputHeight, configuration.inputWidth, configuration.inputChannels] }

    /// Build with freshly initialised parameters (deterministic for a seed).
    public init(_ c: MDEQConfiguration, seed: UInt64 = 0) throws(EquilibriumError) {
        try c.validate()
        configuration = c
        let p = ParameterStore(seed: seed)
        parameters = p
        let n = c.branches, ch = c.channels, g = c.groups, eps = c.epsilon
        stem = [
            Convolution2D(
                "downsample.0", inChannels: c.inputChannels, outChannels: ch[0], kernelSize: 3,
                stride: c.stemDownsamples >= 1 ? 2 : 1, padding: 1, in: p),
            Convolution2D(
                "downsample.3", inChannels: ch[0], outChannels: ch[0], kernelSize: 3,
                stride: c.stemDownsamples >= 2 ? 2 : 1, padding: 1, in: p),
        ]
        stage0 = c.injectionConv ? Convolution2D("stage0.0", inChannels: ch[0], outChannels: ch[0], kernelSize: 1, in: p) : nil
        blocks = (0..<n).map { i in
            let pre = "fullstage.branches.\(i).blocks.0", wide = c.expansion * ch[i]
            return Block(
                conv1: Convolution2D("\(pre).conv1", inChannels: ch[i], outChannels: wide, kernelSize: 3, padding: 1, bias: false, in: p),
                gn1: GroupNormalization("\(pre).gn1", channels: wide, groups: g, epsilon: eps, in: p),
                conv2: Convolution2D("\(pre).conv2", inChannels: wide, outChannels: ch[i], kernelSize: 3, padding: 1, bias: false, in: p),
                gn2: GroupNormalization("\(pre).gn2", channels: ch[i], groups: g, epsilon: eps, in: p),
                gn3: GroupNormalization("\(pre).gn3", channels: ch[i], groups: g, epsilon: eps, in: p))
        }
        var fuse: [[Fuse]] = []
        var postConv: [Convolution2D] = [], postNorm: [GroupNormalization] = []
        if n > 1 {
            for i in 0..<n {
                var row: [Fuse] = []
                for j in 0..<n {
                    let pre = "fullstage.fuse_layers.\(i).\(j).net"
                    if i == j {
                        row.append(.identity)
                    } else if j > i {
                        row.append(
                            .up(
                                Convolution2D("\(pre).conv", inChannels: ch[j], outChannels: ch[i], kernelSize: 1, bias: false, in: p),
                                GroupNormalization("\(pre).gnorm", channels: ch[i], groups: g, epsilon: eps, in: p),
                                Upsample2D(factor: 1 << (j - i))))
                    } else {
                        row.append(
                            .down(
                                (0..<(i - j)).map { k in
                                    let out = k == i - j - 1 ? ch[i] : ch[j]
                                    return (
                                        Convolution2D(
                                            "\(pre).\(k).conv", inChannels: ch[j], outChannels: out, kernelSize: 3, stride: 2,
                                            padding: 1, bias: false, in: p),
                                        GroupNormalization("\(pre).\(k).gnorm", channels: out, groups: g, epsilon: eps, in: p)
                                    )
                                }))
                    }
                }
                fuse.append(row)
            }
            for i in 0..<n {
                postConv.append(
                    Convolution2D(
                        "fullstage.post_fuse_layers.\(i).conv", inChannels: ch[i], outChannels: ch[i],
                        kernelSize: 1, bias: false, in: p))
                postNorm.append(
                    GroupNormalization(
                        "fullstage.post_fuse_layers.\(i).gnorm", channels: ch[i], groups: g / 2,
                        epsilon: eps, in: p))
            }
        }
        self.fuse = fuse; self.postConv = postConv; self.postNorm = postNorm
        increments = (0..<n).map { i in
            let pre = "incre_modules.\(i).0", hc = c.headChannels[i]
            return Bottleneck(
                conv1: Convolution2D("\(pre).conv1", inChannels: ch[i], outChannels: hc, kernelSize: 1, in: p),
                conv2: Convolution2D("\(pre).conv2", inChannels: hc, outChannels: hc, kernelSize: 3, padding: 1, in: p),
                conv3: Convolution2D("\(pre).conv3", inChannels: hc, outChannels: 4 * hc, kernelSize: 1, in: p),
                shortcut: ch[i] == 4 * hc
                    ? nil
                    : Convolution2D("\(pre).downsample.0", inChannels: ch[i], outChannels: 4 * hc, kernelSize: 1, in: p))
        }
        headDownsample = (0..<(n - 1)).map { i in
            Convolution2D(
                "downsamp_modules.\(i).0", inChannels: 4 * c.headChannels[i], outChannels: 4 * c.headChannels[i + 1],
                kernelSize: 3, stride: 2, padding: 1, in: p)
        }
        finalConv = Convolution2D(
            "final_layer.0", inChannels: 4 * c.headChannels[n - 1], outChannels: c.finalChannels,
            kernelSize: 1, in: p)
        classifier = Dense("classifier", inFeatures: c.finalChannels, outFeatures: c.classes, in: p)
    }

    public func stateShape(batch: Int) -> [Int] { [batch, configuration.stateSize] }

    // MARK: Packing

    /// The branches of a packed state [B, S] as [B, hᵢ, wᵢ, Cᵢ].
    public func unpack(_ z: Tensor) -> [Tensor] {
        let c = configuration, b = z.shape[0], s = c.stateSize
        precondition(z.count == b * s, "MDEQ state must be [B, \(s)], got \(z.shape)")
        return z.withUnsafeBufferPointer { pz in
            (0..<c.branches).map { i in
                let shape = c.branchShape(i), size = shape.reduce(1, *), off = c.stateOffset(i)
                return Tensor(shape: [b] + shape) { out in
                    for n in 0..<b { (out.baseAddress! + n * size).update(from: pz.baseAddress! + n * s + off, count: size) }
                }
            }
        }
    }

    /// Pack branch tensors [B, hᵢ, wᵢ, Cᵢ] into [B, S].
    public func pack(_ parts: [Tensor]) -> Tensor {
        let c = configuration, b = parts[0].shape[0], s = c.stateSize
        return Tensor(shape: [b, s]) { out in
            for (i, t) in parts.enumerated() {
                let size = c.branchShape(i).reduce(1, *), off = c.stateOffset(i)
                precondition(t.count == b * size, "branch \(i): \(t.shape)")
                t.withUnsafeBufferPointer { pt in
                    for n in 0..<b { (out.baseAddress! + n * s + off).update(from: pt.baseAddress! + n * size, count: size) }
                }
            }
        }
    }

    // MARK: Injection

    public func inject(_ x: Tensor) -> (injection: Tensor, cache: LayerCache) {
        let c = configuration
        precondition(x.rank == 4 && Array(x.shape.dropFirst()) == inputShape, "MDEQ expects [B, \(inputShape)], got \(x.shape)")
        var xn = x
        let ci = c.inputChannels, mean = c.normalizationMean, inv = c.normalizationStd.map { 1 / $0 }
        xn.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { let k = i % ci; p[i] = (p[i] - mean[k]) * inv[k] } }
        var layers: [any Layer] = [stem[0], ReLU(), stem[1], ReLU()]
        if let stage0 { layers += [stage0, ReLU()] }
        let (y, cache) = Sequential(layers).forward(xn, parameters)
        return (y, cache)
    }

    public func injectBackward(_ g: Tensor, _ cache: LayerCache) -> Tensor {
        var layers: [any Layer] = [stem[0], ReLU(), stem[1], ReLU()]
        if let stage0 { layers += [stage0, ReLU()] }
        var dx = Sequential(layers).backward(g, cache, parameters)
        let ci = configuration.inputChannels, inv = configuration.normalizationStd.map { 1 / $0 }
        dx.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] *= inv[i % ci] } }
        return dx
    }

    // MARK: The equilibrium map

    /// The residual block of one branch: (output, cache with tensors [s, r1] and children [c1, cn1, c2, cn2, cn3]).
    func blockForward(_ i: Int, _ z: Tensor, _ injection: Tensor?) -> (Tensor, LayerCache) {
        let p = parameters, blk = blocks[i]
        let (a1, c1) = blk.conv1.forward(z, p)
        let (r1, cn1) = blk.gn1.forward(a1, p, adding: [], relu: true)  // ReLU(GN1(conv1 z))
        var (a2, c2) = blk.conv2.forward(r1, p)
        if let injection { a2 += injection }  // conv2(…) + x̃ᵢ
        let (s, cn2) = blk.gn2.forward(a2, p, adding: [z], relu: true)  // ReLU(GN2(…) + z)
        let (y, cn3) = blk.gn3.forward(s, p)
        return (y, LayerCache(tensors: [s, r1], children: [c1, cn1, c2, cn2, cn3]))
    }

    /// Backward of `blockForward`: (dL/dz, dL/d(conv2 output + x̃)).
    func blockBackward(_ i: Int, _ g: Tensor, _ cache: LayerCache) -> (Tensor, Tensor) {
        let p = parameters, blk = blocks[i], ch = cache.children
        var gs = blk.gn3.backward(g, ch[4], p)
        Self.maskByPositive(&gs, cache.tensors[0])
        let ga2 = blk.gn2.backward(gs, ch[3], p)
        var d = blk.conv2.backward(ga2, ch[2], p)
        Self.maskByPositive(&d, cache.tensors[1])
        d = blk.gn1.backward(d, ch[1], p)
        var gz = blk.conv1.backward(d, ch[0], p)
        gz += gs
        return (gz, ga2)
    }

    /// Tᵢⱼ(y) with its cache.
    func fuseForward(_ t: Fuse, _ y: Tensor) -> (Tensor, LayerCache) {
        let p = parameters
        switch t {
        case .identity: return (y, LayerCache())
        case let .up(conv, gn, up):
            return Sequential([conv, gn, up]).forward(y, p)
        case let .down(steps):
            var layers: [any Layer] = []
            for (k, (conv, gn)) in steps.enumerated() {
                layers += [conv, gn]
                if k < steps.count - 1 { layers.append(ReLU()) }
            }
            return Sequential(layers).forward(y, p)
        }
    }

    func fuseBackward(_ t: Fuse, _ g: Tensor, _ cache: LayerCache) -> Tensor {
        let p = parameters
        switch t {
        case .identity: return g
        case let .up(conv, gn, up): return Sequential([conv, gn, up]).backward(g, cache, p)
        case let .down(steps):
            var layers: [any Layer] = []
            for (k, (conv, gn)) in steps.enumerated() {
                layers += [conv, gn]
                if k < steps.count - 1 { layers.append(ReLU()) }
            }
            return Sequential(layers).backward(g, cache, p)
        }
    }

    /// f(z; x̃) with a cache for `fBackward`. Cache: children = n block caches, then (n > 1) per target branch i a
    /// cache with tensors [uᵢ] and children [Tᵢ₀ … Tᵢₙ₋₁, post conv, post norm].
    public func f(_ z: Tensor, _ injection: Tensor) -> (output: Tensor, cache: LayerCache) {
        let n = configuration.branches, p = parameters
        let zs = unpack(z)
        precondition(
            injection.shape == [z.shape[0]] + configuration.branchShape(0),
            "MDEQ injection must be [B, \(configuration.branchShape(0))], got \(injection.shape)")
        var ys: [Tensor] = [], caches: [LayerCache] = []
        for i in 0..<n {
            let (y, c) = blockForward(i, zs[i], i == 0 ? injection : nil)
            ys.append(y); caches.append(c)
        }
        if n == 1 { return (pack(ys), LayerCache(children: caches)) }
        var outs: [Tensor] = []
        for i in 0..<n {
            var parts: [Tensor] = [], fc: [LayerCache] = []
            for j in 0..<n {
                let (t, c) = fuseForward(fuse[i][j], ys[j])
                parts.append(t); fc.append(c)
            }
            let u = FusionSum.sum(parts, relu: true)
            let (v, cc) = postConv[i].forward(u, p)
            let (o, cn) = postNorm[i].forward(v, p)
            outs.append(o)
            caches.append(LayerCache(tensors: [u], children: fc + [cc, cn]))
        }
        return (pack(outs), LayerCache(children: caches))
    }

    public func fBackward(_ g: Tensor, _ cache: LayerCache) -> (state: Tensor, injection: Tensor) {
        let n = configuration.branches, p = parameters
        let gOut = unpack(g)
        var gy: [Tensor]
        if n == 1 {
            gy = gOut
        } else {
            gy = (0..<n).map { Tensor(shape: [g.shape[0]] + configuration.branchShape($0)) }
            for i in 0..<n {
                let fc = cache.children[n + i], u = fc.tensors[0]
                var d = postNorm[i].backward(gOut[i], fc.children[n + 1], p)
                d = postConv[i].backward(d, fc.children[n], p)
                let gu = FusionSum.sumBackward(d, output: u, relu: true)
                for j in 0..<n { gy[j] += fuseBackward(fuse[i][j], gu, fc.children[j]) }
            }
        }
        var gz: [Tensor] = [], gInjection = Tensor(shape: [0])
        for i in 0..<n {
            let (gzi, ga2) = blockBackward(i, gy[i], cache.children[i])
            gz.append(gzi)
            if i == 0 { gInjection = ga2 }
        }
        return (pack(gz), gInjection)
    }

    /// g ← g · 1[y > 0] (the ReLU backward from its output).
    static func maskByPositive(_ g: inout Tensor, _ y: Tensor) {
        g.withUnsafeMutableBufferPointer { pg in
            y.withUnsafeBufferPointer { py in
                for i in 0..<pg.count where py[i] <= 0 { pg[i] = 0 }
            }
        }
    }

    // MARK: Head

    func bottleneckLayers(_ b: Bottleneck) -> Sequential { Sequential([b.conv1, ReLU(), b.conv2, ReLU(), b.conv3]) }

    /// Bot(x) = ReLU(main(x) + shortcut(x)); cache tensors [output], children [main, shortcut?].
    func bottleneckForward(_ b: Bottleneck, _ x: Tensor) -> (Tensor, LayerCache) {
        let p = parameters
        var (y, cm) = bottleneckLayers(b).forward(x, p)
        var children = [cm]
        if let sc = b.shortcut { let (r, cs) = sc.forward(x, p); y += r; children.append(cs) } else { y += x }
        y.withUnsafeMutableBufferPointer { q in Activation.reluForward(q.count, q.baseAddress!, q.baseAddress!) }
        return (y, LayerCache(tensors: [y], children: children))
    }

    func bottleneckBackward(_ b: Bottleneck, _ g: Tensor, _ cache: LayerCache) -> Tensor {
        var d = g
        Self.maskByPositive(&d, cache.tensors[0])
        var dx = bottleneckLayers(b).backward(d, cache.children[0], parameters)
        if let sc = b.shortcut { dx += sc.backward(d, cache.children[1], parameters) } else { dx += d }
        return dx
    }

    var finalLayers: Sequential { Sequential([finalConv, ReLU(), GlobalAveragePooling(), classifier]) }

    /// Cache children: n bottleneck caches, n − 1 downsampling caches, the final layers' cache.
    public func head(_ z: Tensor) -> (logits: Tensor, cache: LayerCache) {
        let n = configuration.branches, p = parameters
        let zs = unpack(z)
        var bc: [LayerCache] = [], dc: [LayerCache] = []
        var (h, c0) = bottleneckForward(increments[0], zs[0])
        bc.append(c0)
        for i in 1..<n {
            let (d, cd) = Sequential([headDownsample[i - 1], ReLU()]).forward(h, p)
            var (b, cb) = bottleneckForward(increments[i], zs[i])
            b += d
            h = b
            bc.append(cb); dc.append(cd)
        }
        let (logits, cf) = finalLayers.forward(h, p)
        return (logits, LayerCache(children: bc + dc + [cf]))
    }

    public func headBackward(_ g: Tensor, _ cache: LayerCache) -> Tensor {
        let n = configuration.branches, p = parameters, ch = cache.children
        var gh = finalLayers.backward(g, ch[2 * n - 1], p)
        var gz = [Tensor](repeating: Tensor(shape: [0]), count: n)
        var i = n - 1
        while i >= 1 {
            gz[i] = bottleneckBackward(increments[i], gh, ch[i])
            gh = Sequential([headDownsample[i - 1], ReLU()]).backward(gh, ch[n + i - 1], p)
            i -= 1
        }
        gz[0] = bottleneckBackward(increments[0], gh, ch[0])
        return pack(gz)
    }
}
