import NeuralNet
import TensorCore

// Names: B images, H×W×C channels-last, P patch side, N = (H/P)(W/P) patches, F = P·P·C patch features,
// d hidden width.

/// Hyperparameters of a small pre-LayerNorm ViT (Dosovitskiy et al., ICLR 2021) for 28×28 images.
public struct ViTConfiguration: Sendable, Equatable, Codable {
    public var imageHeight: Int, imageWidth: Int, channels: Int
    /// Patch side P (must divide height and width).
    public var patchSize: Int
    /// Token width d.
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    /// Width of each block's MLP.
    public var mlpSize: Int
    public var classes: Int
    public var layerNormEpsilon: Float

    public init(
        imageHeight: Int = 28, imageWidth: Int = 28, channels: Int = 1, patchSize: Int = 4, hiddenSize: Int = 64,
        layerCount: Int = 4, headCount: Int = 4, mlpSize: Int = 128, classes: Int = 10, layerNormEpsilon: Float = 1e-6
    ) {
        precondition(
            patchSize > 0 && imageHeight % patchSize == 0 && imageWidth % patchSize == 0,
            "patch \(patchSize) must divide \(imageHeight)×\(imageWidth)")
        precondition(
            hiddenSize > 0 && headCount > 0 && hiddenSize % headCount == 0 && mlpSize > 0 && classes >= 2
                && layerCount >= 0 && channels > 0)
        self.imageHeight = imageHeight; self.imageWidth = imageWidth; self.channels = channels
        self.patchSize = patchSize; self.hiddenSize = hiddenSize; self.layerCount = layerCount
        self.headCount = headCount; self.mlpSize = mlpSize; self.classes = classes
        self.layerNormEpsilon = layerNormEpsilon
    }

    /// Patches per image N.
    public var patchCount: Int { (imageHeight / patchSize) * (imageWidth / patchSize) }
    /// Features per patch F = P·P·C.
    public var patchFeatures: Int { patchSize * patchSize * channels }
}

/// One pre-LN transformer block: x ← x + Attn(LN₁(x)); x ← x + W₂·GELU(W₁·LN₂(x)). Shapes [B, N, d] → [B, N, d].
/// Reuses the encoder's `MultiHeadSelfAttention` (so its A·V combiner can be replaced too).
public struct PreLNBlock: Sendable {
    public let norm1: LayerNormalization, norm2: LayerNormalization
    public var attention: MultiHeadSelfAttention
    public let fc1: Dense, fc2: Dense

    public init(
        _ prefix: String, hiddenSize d: Int, headCount: Int, mlpSize: Int, epsilon: Float, in p: ParameterStore,
        weightInit: Initializer? = nil
    ) {
        norm1 = LayerNormalization("\(prefix).norm1", width: d, epsilon: epsilon, in: p)
        attention = MultiHeadSelfAttention("\(prefix).attention", hiddenSize: d, headCount: headCount, in: p, weightInit: weightInit)
        norm2 = LayerNormalization("\(prefix).norm2", width: d, epsilon: epsilon, in: p)
        fc1 = Dense("\(prefix).mlp.fc1", inFeatures: d, outFeatures: mlpSize, in: p, weightInit: weightInit)
        fc2 = Dense("\(prefix).mlp.fc2", inFeatures: mlpSize, outFeatures: d, in: p, weightInit: weightInit)
    }

    /// Output [B, N, d] and cache (children: norm1, attention, norm2, fc1, gelu, fc2). No padding (all keys real).
    public func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        let mask = [Float](repeating: 1, count: x.shape[0] * x.shape[1])
        let (n1, c1) = norm1.forward(x, p)
        let (a, ca) = attention.forward(n1, keyMask: mask, p)
        let h = x + a
        let (n2, c2) = norm2.forward(h, p)
        let (u, cf1) = fc1.forward(n2, p)
        let (g, cg) = GELU().forward(u, p)
        let (m, cf2) = fc2.forward(g, p)
        return (h + m, LayerCache(children: [c1, ca, c2, cf1, cg, cf2]))
    }

    /// dL/dx [B, N, d] from dL/dy; parameter gradients accumulated.
    public func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor {
        let c = cache.children
        let dg = fc2.backward(dy, c[5], p)
        let du = GELU().backward(dg, c[4], p)
        let dn2 = fc1.backward(du, c[3], p)
        let dh = dy + norm2.backward(dn2, c[2], p)
        let dn1 = attention.backward(dh, c[1], p)
        return dh + norm1.backward(dn1, c[0], p)
    }
}

/// A small pre-LN Vision Transformer classifier:
///
///     z₀ = patches(x)·Wₑᵀ + bₑ + pos  [B, N, d];  z_{l+1} = block_l(z_l);  logits = head(mean_N LN(z_L))  [B, K]
///
/// Non-overlapping P×P patches flattened in (row, column, channel) order, learned position embeddings
/// (N(0, 0.02²)), mean pooling over patches after a final LayerNorm, a linear head. Parameters in one store:
/// `patch_embedding.*`, `position_embedding` [N, d], `blocks.L.*`, `norm.*`, `head.*`.
public struct VisionTransformer: Sendable {
    public let configuration: ViTConfiguration
    public let patchEmbedding: Dense
    public let position: ParameterSlot
    public var blocks: [PreLNBlock]
    public let norm: LayerNormalization
    public let head: Dense

    public init(_ c: ViTConfiguration, in p: ParameterStore, weightInit: Initializer? = nil) {
        configuration = c
        patchEmbedding = Dense("patch_embedding", inFeatures: c.patchFeatures, outFeatures: c.hiddenSize, in: p)
        position = p.register("position_embedding", shape: [c.patchCount, c.hiddenSize], initializer: .normal(std: 0.02))
        blocks = (0..<c.layerCount).map {
            PreLNBlock(
                "blocks.\($0)", hiddenSize: c.hiddenSize, headCount: c.headCount, mlpSize: c.mlpSize,
                epsilon: c.layerNormEpsilon, in: p, weightInit: weightInit)
        }
        norm = LayerNormalization("norm", width: c.hiddenSize, epsilon: c.layerNormEpsilon, in: p)
        head = Dense("head", inFeatures: c.hiddenSize, outFeatures: c.classes, in: p, weightInit: weightInit)
    }

    /// [B, H, W, C] → [B, N, F]: patch n = i·(W/P) + j holds pixels (i·P + di, j·P + dj, c) at feature (di·P + dj)·C + c.
    public static func patches(_ x: Tensor, _ c: ViTConfiguration) -> Tensor {
        precondition(
            x.rank == 4 && Array(x.shape.dropFirst()) == [c.imageHeight, c.imageWidth, c.channels],
            "images \(x.shape) for \(c.imageHeight)×\(c.imageWidth)×\(c.channels)")
        var y = Tensor(shape: [x.shape[0], c.patchCount, c.patchFeatures])
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                movePatches(c, batch: x.shape[0]) { img, pat in py[pat] = px[img] }
            }
        }
        return y
    }

    /// Inverse of `patches` (a permutation, so also its backward): [B, N, F] → [B, H, W, C].
    public static func unpatch(_ y: Tensor, _ c: ViTConfiguration) -> Tensor {
        var x = Tensor(shape: [y.shape[0], c.imageHeight, c.imageWidth, c.channels])
        y.withUnsafeBufferPointer { py in
            x.withUnsafeMutableBufferPointer { px in
                movePatches(c, batch: y.shape[0]) { img, pat in px[img] = py[pat] }
            }
        }
        return x
    }

    /// Calls `body(image index, patch index)` for every element.
    static func movePatches(_ c: ViTConfiguration, batch b: Int, _ body: (Int, Int) -> Void) {
        let (h, w, ch, ps) = (c.imageHeight, c.imageWidth, c.channels, c.patchSize)
        let gw = w / ps, n = c.patchCount, f = c.patchFeatures
        for s in 0..<b {
            for y in 0..<h {
                for x in 0..<w {
                    for k in 0..<ch {
                        let patch = (y / ps) * gw + x / ps, feature = ((y % ps) * ps + x % ps) * ch + k
                        body(((s * h + y) * w + x) * ch + k, (s * n + patch) * f + feature)
                    }
                }
            }
        }
    }

    /// Logits [B, K] and the cache for `backward`.
    public func forward(_ images: Tensor, _ p: ParameterStore) -> (logits: Tensor, cache: LayerCache) {
        let c = configuration, b = images.shape[0]
        let (e, ce) = patchEmbedding.forward(Self.patches(images, c), p)
        var z = e
        let pos = p.tensor(position)
        z.withUnsafeMutableBufferPointer { pz in
            pos.withUnsafeBufferPointer { pp in
                for s in 0..<b { for i in 0..<pp.count { pz[s * pp.count + i] += pp[i] } }
            }
        }
        var caches = [ce]
        for block in blocks {
            let (y, cb) = block.forward(z, p)
            caches.append(cb); z = y
        }
        let (zn, cn) = norm.forward(z, p)
        let pooled = SentencePooling.mean(zn, mask: [Float](repeating: 1, count: b * c.patchCount))
        let (logits, ch) = head.forward(pooled, p)
        caches += [cn, ch]
        return (logits, LayerCache(children: caches))
    }

    /// Inference logits [B, K].
    public func callAsFunction(_ images: Tensor, _ p: ParameterStore) -> Tensor { forward(images, p).logits }

    /// Given dL/dlogits [B, K], accumulate every parameter's gradient; returns dL/dimages [B, H, W, C].
    @discardableResult
    public func backward(_ dLogits: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor {
        let c = configuration, b = dLogits.shape[0], k = blocks.count
        let dPooled = head.backward(dLogits, cache.children[k + 2], p)
        let dzn = SentencePooling.meanBackward(dPooled, mask: [Float](repeating: 1, count: b * c.patchCount), length: c.patchCount)
        var dz = norm.backward(dzn, cache.children[k + 1], p)
        for l in stride(from: k - 1, through: 0, by: -1) { dz = blocks[l].backward(dz, cache.children[l + 1], p) }
        if p.accumulatesGradients {
            let m = c.patchCount * c.hiddenSize
            dz.withUnsafeBufferPointer { pd in
                p.withGradients(position) { g in
                    for s in 0..<b { for i in 0..<m { g[i] += pd[s * m + i] } }
                }
            }
        }
        return Self.unpatch(patchEmbedding.backward(dz, cache.children[0], p), c)
    }
}
