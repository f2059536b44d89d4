import Foundation
import TensorCore

// Layer types. Images are channels-last [B, H, W, C]; vectors are [B, D] (or [..., D] for per-row layers).

/// y = x·Wᵀ + b over the last axis. W [out, in], b [out].
public struct Dense: Layer {
    public let weight: ParameterSlot
    public let bias: ParameterSlot?
    public let inFeatures: Int, outFeatures: Int

    public init(
        _ name: String, inFeatures: Int, outFeatures: Int, bias: Bool = true, in p: ParameterStore,
        weightInit: Initializer? = nil
    ) {
        self.inFeatures = inFeatures; self.outFeatures = outFeatures
        weight = p.register(
            "\(name).weight", shape: [outFeatures, inFeatures],
            initializer: weightInit ?? .fanInUniform(fanIn: inFeatures))
        self.bias = bias ? p.register("\(name).bias", shape: [outFeatures], initializer: .fanInUniform(fanIn: inFeatures)) : nil
    }

    public func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        precondition(x.shape.last == inFeatures, "Dense expects last axis \(inFeatures), got \(x.shape)")
        let rows = x.count / inFeatures
        var y = Tensor(shape: Array(x.shape.dropLast()) + [outFeatures])
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                p.withValues(weight) { w in
                    if let bias {
                        p.withValues(bias) { b in
                            LinearKernel.forward(
                                rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, x: px.baseAddress!,
                                weight: w, bias: b, y: py.baseAddress!)
                        }
                    } else {
                        LinearKernel.forward(
                            rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, x: px.baseAddress!,
                            weight: w, bias: nil, y: py.baseAddress!)
                    }
                }
            }
        }
        return (y, LayerCache(tensors: [x]))
    }

    public func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor {
        let x = cache.tensors[0], rows = x.count / inFeatures
        var dx = Tensor(shape: x.shape)
        let w = p.tensor(weight)
        x.withUnsafeBufferPointer { px in
            dy.withUnsafeBufferPointer { pdy in
                w.withUnsafeBufferPointer { pw in
                    dx.withUnsafeMutableBufferPointer { pdx in
                        if p.accumulatesGradients {
                            p.withGradients(weight) { gw in
                                LinearKernel.backward(
                                    rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, x: px.baseAddress!,
                                    weight: pw.baseAddress!, gradOutput: pdy.baseAddress!, gradInput: pdx.baseAddress!,
                                    gradWeight: gw, gradBias: nil)
                            }
                        } else {
                            LinearKernel.backward(
                                rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, x: px.baseAddress!,
                                weight: pw.baseAddress!, gradOutput: pdy.baseAddress!, gradInput: pdx.baseAddress!,
                                gradWeight: nil, gradBias: nil)
                        }
                        if let bias, p.accumulatesGradients {
                            p.withGradients(bias) { gb in
                                for r in 0..<rows { for j in 0..<outFeatures { gb[j] += pdy[r * outFeatures + j] } }
                            }
                        }
                    }
                }
            }
        }
        return dx
    }
}

/// 2-D convolution on channels-last images. Weight [Co, Ci, k, k] (PyTorch layout), bias [Co].
public struct Convolution2D: Layer {
    public let weight: ParameterSlot
    public let bias: ParameterSlot?
    public let inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int, padding: Int

    public init(
        _ name: String, inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        bias: Bool = true, in p: ParameterStore, weightInit: Initializer? = nil
    ) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernelSize = kernelSize; self.stride = stride; self.padding = padding
        let fanIn = inChannels * kernelSize * kernelSize
        weight = p.register(
            "\(name).weight", shape: [outChannels, inChannels, kernelSize, kernelSize],
            initializer: weightInit ?? .fanInUniform(fanIn: fanIn))
        self.bias = bias ? p.register("\(name).bias", shape: [outChannels], initializer: .fanInUniform(fanIn: fanIn)) : nil
    }

    public func geometry(for x: Tensor) -> Conv2DGeometry {
        precondition(
            x.rank == 4 && x.shape[3] == inChannels,
            "Convolution2D expects [B, H, W, \(inChannels)], got \(x.shape)")
        return Conv2DGeometry(
            batch: x.shape[0], height: x.shape[1], width: x.shape[2], inChannels: inChannels,
            outChannels: outChannels, kernelHeight: kernelSize, kernelWidth: kernelSize,
            stride: stride, padding: padding)
    }

    /// The weight repacked for the GEMM: [Co, k, k, Ci].
    public func packedWeight(_ p: ParameterStore, _ g: Conv2DGeometry) -> [Float] {
        var wp = [Float](repeating: 0, count: weight.count)
        p.withValues(weight) { w in wp.withUnsafeMutableBufferPointer { Conv2D.packWeight(g, w, into: $0.baseAddress!) } }
        return wp
    }

    /// Forward: the direct kernel where it applies (`Conv2D.supportsDirect`: Co a multiple of 16, Ci ≥ 8),
    /// otherwise im2col + GEMM. Both compute the same sums (tested against the reference twin); their rounding differs.
    public func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        let g = geometry(for: x)
        let y = Tensor(shape: [g.batch, g.outHeight, g.outWidth, outChannels]) { py in  // every output is written
            x.withUnsafeBufferPointer { px in forward(g, input: px.baseAddress!, output: py.baseAddress!, p) }
        }
        return (y, LayerCache(tensors: [x]))
    }

    /// The same arithmetic as `forward(_:_:)` on raw memory, without a cache (inference on part of a batch):
    /// x [batch, height, width, Ci] at `input`, y [batch, OH, OW, Co] at `output` (every element written).
    public func forward(
        batch: Int, height: Int, width: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
        _ p: ParameterStore
    ) {
        let g = Conv2DGeometry(
            batch: batch, height: height, width: width, inChannels: inChannels, outChannels: outChannels,
            kernelHeight: kernelSize, kernelWidth: kernelSize, stride: stride, padding: padding)
        forward(g, input: input, output: output, p)
    }

    private func forward(_ g: Conv2DGeometry, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, _ p: ParameterStore) {
        if Conv2D.supportsDirect(g) {
            // Packed once per parameter change, not per call (the panels depend on the weight alone).
            let panels = p.derived("\(weight.name)#panels") {
                var panels = [Float](repeating: 0, count: weight.count)
                p.withValues(weight) { w in panels.withUnsafeMutableBufferPointer { Conv2D.packWeightPanels(g, w, into: $0.baseAddress!) } }
                return panels
            }
            panels.withUnsafeBufferPointer { pw in
                withBias(p) { b in Conv2D.forwardDirect(g, input: input, panels: pw.baseAddress!, bias: b, output: output) }
            }
            return
        }
        output.update(repeating: 0, count: g.batch * g.outHeight * g.outWidth * outChannels)
        let wp = packedWeight(p, g)
        wp.withUnsafeBufferPointer { pw in
            withBias(p) { b in Conv2D.forward(g, input: input, packedWeight: pw.baseAddress!, bias: b, output: output) }
        }
    }

    /// Runs `body` with the bias values, or nil for a convolution without bias.
    private func withBias<R>(_ p: ParameterStore, _ body: (UnsafePointer<Float>?) -> R) -> R {
        guard let bias else { return body(nil) }
        return p.withValues(bias) { body($0) }
    }

    public func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor {
        let x = cache.tensors[0]
        let g = geometry(for: x)
        let wp = packedWeight(p, g)
        var dwp = [Float](repeating: 0, count: weight.count)
        var dx = Tensor(shape: x.shape)
        var db = [Float](repeating: 0, count: outChannels)
        x.withUnsafeBufferPointer { px in
            dy.withUnsafeBufferPointer { pdy in
                wp.withUnsafeBufferPointer { pw in
                    dx.withUnsafeMutableBufferPointer { pdx in
                        dwp.withUnsafeMutableBufferPointer { pdw in
                            db.withUnsafeMutableBufferPointer { pdb in
                                Conv2D.backward(
                                    g, input: px.baseAddress!, packedWeight: pw.baseAddress!, gradOutput: pdy.baseAddress!,
                                    gradInput: pdx.baseAddress!, gradPackedWeight: p.accumulatesGradients ? pdw.baseAddress! : nil,
                                    gradBias: bias == nil || !p.accumulatesGradients ? nil : pdb.baseAddress!)
                            }
                        }
                    }
                }
            }
        }
        guard p.accumulatesGradients else { return dx }
        dwp.withUnsafeBufferPointer { s in p.withGradients(weight) { Conv2D.unpackWeightAdding(g, s.baseAddress!, into: $0) } }
        if let bias { p.withGradients(bias) { gb in for c in 0..<outChannels { gb[c] += db[c] } } }
        return dx
    }
}

/// Group normalisation over channels-last activations [B, …, C], affine (γ, β per channel).
public struct GroupNormalization: Layer {
    public let gamma: ParameterSlot, beta: ParameterSlot
    public let channels: Int, groups: Int, epsilon: Float

    public init(_ name: String, channels: Int, groups: Int, epsilon: Float = 1e-5, in p: ParameterStore) {
        precondition(channels % groups == 0, "\(name): channels \(channels) not divisible by groups \(groups)")
        self.channels = channels; self.groups = groups; self.epsilon = epsilon
        gamma = p.register("\(name).weight", shape: [channels], initializer: .ones)
        beta = p.register("\(name).bias", shape: [channels], initializer: .zeros)
    }

    public func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        forward(x, p, adding: [], relu: false)
    }

    /// The fused form y = ReLU(GN(x) + a₁ + a₂) (up to two addends of x's shape; ReLU when `relu`), one pass
    /// fewer over memory than the separate layers. The cache is GN's own, so `backward` is the gradient of GN(x)
    /// alone: the caller masks by y > 0 for the ReLU and routes the addends' gradients itself.
    public func forward(_ x: Tensor, _ p: ParameterStore, adding addends: [Tensor], relu: Bool) -> (output: Tensor, cache: LayerCache) {
        precondition(x.shape.last == channels, "GroupNormalization expects \(channels) channels, got \(x.shape)")
        precondition(
            addends.count <= 2 && addends.allSatisfy { $0.shape == x.shape },
            "GroupNormalization: at most two addends of shape \(x.shape)")
        let b = x.shape[0], pos = x.count / (b * channels)
        var stats = Tensor(shape: [2, b, groups])
        let a1 = addends.first ?? x, a2 = addends.count > 1 ? addends[1] : x
        let y = Tensor(shape: x.shape) { py in  // the last pass writes every element
            x.withUnsafeBufferPointer { px in
                stats.withUnsafeMutableBufferPointer { ps in
                    a1.withUnsafeBufferPointer { pa1 in
                        a2.withUnsafeBufferPointer { pa2 in
                            forward(
                                batch: b, positions: pos, x: px.baseAddress!, y: py.baseAddress!,
                                adding: addends.isEmpty ? nil : pa1.baseAddress!, addends.count > 1 ? pa2.baseAddress! : nil,
                                relu: relu, mean: ps.baseAddress!, rstd: ps.baseAddress! + b * groups, p)
                        }
                    }
                }
            }
        }
        return (y, LayerCache(tensors: [x, stats]))
    }

    /// The same arithmetic as `forward(_:_:adding:relu:)` on raw memory, without a cache (inference on part of a
    /// batch): x, y, a₁, a₂ [batch, positions, C]; every element of y is written.
    public func forward(
        batch b: Int, positions pos: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
        adding a1: UnsafePointer<Float>?, _ a2: UnsafePointer<Float>?, relu: Bool, _ p: ParameterStore
    ) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * b * groups) { stats in
            stats.initialize(repeating: 0)
            forward(
                batch: b, positions: pos, x: x, y: y, adding: a1, a2, relu: relu, mean: stats.baseAddress!,
                rstd: stats.baseAddress! + b * groups, p)
        }
    }

    private func forward(
        batch b: Int, positions pos: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
        adding a1: UnsafePointer<Float>?, _ a2: UnsafePointer<Float>?, relu: Bool,
        mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>, _ p: ParameterStore
    ) {
        p.withValues(gamma) { g in
            p.withValues(beta) { bt in
                GroupNorm.forward(
                    batch: b, positions: pos, channels: channels, groups: groups, epsilon: epsilon,
                    x: x, gamma: g, beta: bt, y: y, mean: mean, rstd: rstd, adding: a1, a2, relu: relu)
            }
        }
    }

    public func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor {
        let x = cache.tensors[0], stats = cache.tensors[1]
        let b = x.shape[0], pos = x.count / (b * channels)
        var dx = Tensor(shape: x.shape)
        let gam = p.tensor(gamma)
        var dg = [Float](repeating: 0, count: channels), dbt = [Float](repeating: 0, count: channels)
        x.withUnsafeBufferPointer { px in
            dy.withUnsafeBufferPointer { pdy in
                stats.withUnsafeBufferPointer { ps in
                    gam.withUnsafeBufferPointer { pg in
                        dx.withUnsafeMutableBufferPointer { pdx in
                            dg.withUnsafeMutableBufferPointer { pdg in
                                dbt.withUnsafeMutableBufferPointer { pdb in
                                    GroupNorm.backward(
                                        batch: b, positions: pos, channels: channels, groups: groups, x: px.baseAddress!,
                                        gamma: pg.baseAddress!, mean: ps.baseAddress!, rstd: ps.baseAddress! + b * groups,
                                        gradOutput: pdy.baseAddress!, gradInput: pdx.baseAddress!,
                                        gradGamma: pdg.baseAddress!, gradBeta: pdb.baseAddress!)
                                }
                            }
                        }
                    }
                }
            }
        }
        guard p.accumulatesGradients else { return dx }
        p.withGradients(gamma) { g in for c in 0..<channels { g[c] += dg[c] } }
        p.withGradients(beta) { g in for c in 0..<channels { g[c] += dbt[c] } }
        return dx
    }
}

/// Layer normalisation over the last axis D, affine (γ, β of size D).
public struct LayerNormalization: Layer {
    public let gamma: ParameterSlot, beta: ParameterSlot
    public let width: Int, epsilon: Float

    public init(_ name: String, width: Int, epsilon: Float = 1e-5, in p: ParameterStore) {
        self.width = width; self.epsilon = epsilon
        gamma = p.register("\(name).weight", shape: [width], initializer: .ones)
        beta = p.register("\(name).bias", shape: [width], initializer: .zeros)
    }

    public func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        precondition(x.shape.last == width, "LayerNormalization expects last axis \(width), got \(x.shape)")
        let rows = x.count / width
        var y = Tensor(shape: x.shape)
        var stats = Tensor(shape: [2, rows])
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                stats.withUnsafeMutableBufferPointer { ps in
                    p.withValues(gamma) { g in
                        p.withValues(beta) { bt in
                            LayerNorm.forward(
                                rows: rows, width: width, epsilon: epsilon, x: px.baseAddress!, gamma: g, beta: bt,
                                y: py.baseAddress!, mean: ps.baseAddress!, rstd: ps.baseAddress! + rows)
                        }
                    }
                }
            }
        }
        return (y, LayerCache(tensors: [x, stats]))
    }

    public func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor {
        let x = cache.tensors[0], stats = cache.tensors[1], rows = x.count / width
        var dx = Tensor(shape: x.shape)
        let gam = p.tensor(gamma)
        var dg = [Float](repeating: 0, count: width), dbt = [Float](repeating: 0, count: width)
        x.withUnsafeBufferPointer { px in
            dy.withUnsafeBufferPointer { pdy in
                stats.withUnsafeBufferPointer { ps in
                    gam.withUnsafeBufferPointer { pg in
                        dx.withUnsafeMutableBufferPointer { pdx in
                            dg.withUnsafeMutableBufferPointer { pdg in
                                dbt.withUnsafeMutableBufferPointer { pdb in
                                    LayerNorm.backward(
                                        rows: rows, width: width, x: px.baseAddress!, gamma: pg.baseAddress!,
                                        mean: ps.baseAddress!, rstd: ps.baseAddress! + rows, gradOutput: pdy.baseAddress!,
                                        gradInput: pdx.baseAddress!, gradGamma: pdg.baseAddress!, gradBeta: pdb.baseAddress!)
                                }
                            }
                        }
                    }
                }
            }
        }
        guard p.accumulatesGradients else { return dx }
        p.withGradients(gamma) { g in for c in 0..<width { g[c] += dg[c] } }
        p.withGradients(beta) { g in for c in 0..<width { g[c] += dbt[c] } }
        return dx
    }
}

/// max(x, 0).
public struct ReLU: Layer {
    public init() {}
    public func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        var y = x
        y.withUnsafeMutableBufferPointer { py in Activation.reluForward(py.count, py.baseAddress!, py.baseAddress!) }
        return (y, LayerCache(tensors: [y]))
    }
    public func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor {
        var dx = dy
        cache.tensors[0].withUnsafeBufferPointer { py in
            dx.withUnsafeMutableBufferPointer { pd in
                Activation.reluBackward(pd.count, output: py.baseAddress!, pd.baseAddress!, pd.baseAddress!)
            }
        }
        return dx
    }
}

/// GELU, exact erf form.
public struct GELU: Layer {
    public init() {}
    public func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        var y = Tensor(shape: x.shape)
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                Activation.geluForward(px.count, px.baseAddress!, py.baseAddress!)
            }
        }
        return (y, LayerCache(tensors: [x]))
    }
    public func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor {
        var dx = Tensor(shape: dy.shape)
        cache.tensors[0].withUnsafeBufferPointer { px in
            dy.withUnsafeBufferPointer { pdy in
                dx.withUnsafeMutableBufferPointer { pdx in
                    Activation.geluBackward(px.count, input: px.baseAddress!, pdy.baseAddress!, pdx.baseAddress!)
                }
            }
        }
        return dx
    }
}

/// Average pooling with a k×k window and stride s on [B, H, W, C].
public struct AveragePooling2D: Layer {
    public let window: Int, stride: Int
    public init(window: Int, stride: Int? = nil) { self.window = window; self.stride = stride ?? window }
    public func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        let (b, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var y = Tensor(shape: [b, (h - window) / stride + 1, (w - window) / stride + 1, c])
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                AvgPool.forward(batch: b, height: h, width: w, channels: c, window: window, stride: stride, px.baseAddress!, py.baseAddress!)
            }
        }
        return (y, LayerCache(tensors: [Tensor(shape: [4], scalars: [b, h, w, c].map(Float.init))]))
    }
    public func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor {
        let s = cache.tensors[0].scalars.map { Int($0) }
        var dx = Tensor(shape: s)
        dy.withUnsafeBufferPointer { pdy in
            dx.withUnsafeMutableBufferPointer { pdx in
                AvgPool.backward(
                    batch: s[0], height: s[1], width: s[2], channels: s[3], window: window, stride: stride,
                    pdy.baseAddress!, pdx.baseAddress!)
            }
        }
        return dx
    }
}

/// Mean over all positions: [B, …, C] → [B, C].
public struct GlobalAveragePooling: Layer {
    public init() {}
    public func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        let b = x.shape[0], c = x.shape.last!, pos = x.count / (b * c)
        var y = Tensor(shape: [b, c])
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                AvgPool.globalForward(batch: b, positions: pos, channels: c, px.baseAddress!, py.baseAddress!)
            }
        }
        return (y, LayerCache(tensors: [Tensor(shape: [x.rank], scalars: x.shape.map(Float.init))]))
    }
    public func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor {
        let s = cache.tensors[0].scalars.map { Int($0) }
        var dx = Tensor(shape: s)
        let b = s[0], c = s.last!, pos = dx.count / (b * c)
        dy.withUnsafeBufferPointer { pdy in
            dx.withUnsafeMutableBufferPointer { pdx in
                AvgPool.globalBackward(batch: b, positions: pos, channels: c, pdy.baseAddress!, pdx.baseAddress!)
            }
        }
        return dx
    }
}

/// [B, …] → [B, Π…] (no data movement).
public struct Flatten: Layer {
    public init() {}
    public func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        (
            x.reshaped([x.shape[0], x.count / max(x.shape[0], 1)]),
            LayerCache(tensors: [Tensor(shape: [x.rank], scalars: x.shape.map(Float.init))])
        )
    }
    public func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor {
        dy.reshaped(cache.tensors[0].scalars.map { Int($0) })
    }
}

/// [B, H, W, C] → [B, C·H·W] in PyTorch's (c, h, w) order (`torch.flatten` of an NCHW tensor), so a following
/// Dense layer's weight columns are in PyTorch's order: y[b, (c·H + h)·W + w] = x[b, h, w, c].
public struct ChannelsFirstFlatten: Layer {
    public init() {}
    public func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        precondition(x.rank == 4, "ChannelsFirstFlatten expects [B, H, W, C], got \(x.shape)")
        let (b, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let y = Tensor(shape: [b, c * h * w]) { py in
            x.withUnsafeBufferPointer { px in
                for n in 0..<b { for q in 0..<(h * w) { for k in 0..<c { py[(n * c + k) * h * w + q] = px[(n * h * w + q) * c + k] } } }
            }
        }
        return (y, LayerCache(tensors: [Tensor(shape: [4], scalars: [b, h, w, c].map(Float.init))]))
    }
    public func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor {
        let s = cache.tensors[0].scalars.map { Int($0) }
        let (b, h, w, c) = (s[0], s[1], s[2], s[3])
        return Tensor(shape: s) { px in
            dy.withUnsafeBufferPointer { py in
                for n in 0..<b { for q in 0..<(h * w) { for k in 0..<c { px[(n * h * w + q) * c + k] = py[(n * c + k) * h * w + q] } } }
            }
        }
    }
}

/// Nearest-neighbour upsampling by an integer factor s on [B, H, W, C] → [B, sH, sW, C] (`UpsampleNearest`);
/// the backward sums each s×s block of dL/dy.
public struct Upsample2D: Layer {
    public let factor: Int
    public init(factor: Int = 2) { precondition(factor >= 1); self.factor = factor }
    public func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        let (b, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let s = factor
        let y = Tensor(shape: [b, h * s, w * s, c]) { py in
            x.withUnsafeBufferPointer { px in
                UpsampleNearest.forward(batch: b, height: h, width: w, channels: c, factor: s, px.baseAddress!, py.baseAddress!)
            }
        }
        return (y, LayerCache())
    }
    public func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor {
        let s = factor
        let (b, hs, ws, c) = (dy.shape[0], dy.shape[1], dy.shape[2], dy.shape[3])
        return Tensor(shape: [b, hs / s, ws / s, c]) { px in
            dy.withUnsafeBufferPointer { pd in
                UpsampleNearest.backward(
                    batch: b, height: hs / s, width: ws / s, channels: c, factor: s,
                    pd.baseAddress!, px.baseAddress!)
            }
        }
    }
}

/// SiLU (swish): y = x·σ(x).
public struct SiLU: Layer {
    public init() {}
    public func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        var y = x
        y.withUnsafeMutableBufferPointer { py in for i in 0..<py.count { let v = py[i]; py[i] = v / (1 + expf(-v)) } }
        return (y, LayerCache(tensors: [x]))
    }
    public func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor {
        var dx = dy
        cache.tensors[0].withUnsafeBufferPointer { px in
            dx.withUnsafeMutableBufferPointer { pd in
                for i in 0..<pd.count {
                    let v = px[i], sg = 1 / (1 + expf(-v))
                    pd[i] *= sg * (1 + v * (1 - sg))
                }
            }
        }
        return dx
    }
}
