import Datasets
import Foundation
import NeuralNet
import Optimizers
import TensorCore
import TrainingLoop

/// The DDPM noise schedule: β_t linear from β_1 to β_T (Ho et al. 2020), ᾱ_t = Π_{s≤t} (1 − β_s), t = 0…T−1.
public struct NoiseSchedule: Sendable, Equatable {
    public let steps: Int
    public let alphaBar: [Double]
    public init(steps: Int = 1000, betaStart: Double = 1e-4, betaEnd: Double = 0.02) {
        precondition(steps >= 2)
        self.steps = steps
        var a = 1.0
        alphaBar = (0..<steps).map { t in
            a *= 1 - (betaStart + (betaEnd - betaStart) * Double(t) / Double(steps - 1))
            return a
        }
    }

    /// DDIM's timesteps for `count` sampling steps, descending: t_i = i·(T/count), i = count−1 … 0 (diffusers'
    /// "leading" spacing). Image-to-image at strength s keeps the last ⌊count·s⌋ of them (min 1 for s > 0).
    public func ddimTimesteps(count: Int, strength: Double = 1) -> [Int] {
        precondition(count >= 1 && count <= steps && strength >= 0 && strength <= 1)
        let all = (0..<count).reversed().map { $0 * (steps / count) }
        let keep = strength == 0 ? 0 : Swift.max(1, Swift.min(count, Int(Double(count) * strength)))
        return Array(all.suffix(keep))
    }
}

/// The class-conditional ε-prediction network over a latent grid [B, h, w, L] (docs/models.md §5). At 7×7 no
/// down-sampling is needed, so instead of a U-Net it is a residual conv net at full resolution:
///
///   c   = SiLU(MLP(sinusoid(t)) + E·onehot(y))            [B, D]   (y = K is the null label for guidance)
///   h   = conv_in(z)                                      [B, h, w, W]
///   h  += conv2(SiLU(GN(conv1(SiLU(GN(h))) + A_i·c)))     three residual blocks, A_i·c added per channel
///   ε̂   = conv_out(SiLU(GN(h)))                           [B, h, w, L]
public struct LatentDenoiser {
    public static let architecture = "latent-denoiser"
    public let latentShape: [Int]
    public let classCount: Int
    public let width: Int
    public let embeddingSize: Int
    public let parameters: ParameterStore
    let timeMLP: Sequential
    let labelEmbedding: Dense
    let convIn: Convolution2D
    let blocks: [(norm1: GroupNormalization, conv1: Convolution2D, cond: Dense, norm2: GroupNormalization, conv2: Convolution2D)]
    let normOut: GroupNormalization
    let convOut: Convolution2D
    static let sinusoidSize = 64

    public init(latentShape: [Int], classCount: Int, width: Int = 64, blocks blockCount: Int = 3, seed: UInt64 = 0) {
        precondition(latentShape.count == 3 && classCount >= 1 && width % 8 == 0)
        self.latentShape = latentShape; self.classCount = classCount; self.width = width
        let d = 128
        embeddingSize = d
        let p = ParameterStore(seed: seed)
        timeMLP = Sequential([
            Dense("time.fc0", inFeatures: Self.sinusoidSize, outFeatures: d, in: p), SiLU(),
            Dense("time.fc1", inFeatures: d, outFeatures: d, in: p),
        ])
        labelEmbedding = Dense("label", inFeatures: classCount + 1, outFeatures: d, bias: false, in: p, weightInit: .normal(std: 1))
        convIn = Convolution2D("conv_in", inChannels: latentShape[2], outChannels: width, kernelSize: 3, padding: 1, in: p)
        blocks = (0..<blockCount).map { i in
            (
                GroupNormalization("block\(i).norm1", channels: width, groups: 8, in: p),
                Convolution2D("block\(i).conv1", inChannels: width, outChannels: width, kernelSize: 3, padding: 1, in: p),
                Dense("block\(i).cond", inFeatures: d, outFeatures: width, in: p),
                GroupNormalization("block\(i).norm2", channels: width, groups: 8, in: p),
                Convolution2D(
                    "block\(i).conv2", inChannels: width, outChannels: width, kernelSize: 3, padding: 1, in: p,
                    weightInit: .normal(std: 1e-3))
            )
        }
        normOut = GroupNormalization("norm_out", channels: width, groups: 8, in: p)
        convOut = Convolution2D("conv_out", inChannels: width, outChannels: latentShape[2], kernelSize: 3, padding: 1, in: p)
        parameters = p
    }

    /// Sinusoidal embedding of timesteps [B, 64]: (sin(t·ω_j), cos(t·ω_j)), ω_j = 10000^(−j/32).
    static func sinusoid(_ t: [Int]) -> Tensor {
        let half = sinusoidSize / 2
        var out = Tensor(shape: [t.count, sinusoidSize])
        out.withUnsafeMutableBufferPointer { p in
            for (b, step) in t.enumerated() {
                for j in 0..<half {
                    let a = Double(step) * pow(10000, -Double(j) / Double(half))
                    p[b * sinusoidSize + j] = Float(sin(a)); p[b * sinusoidSize + half + j] = Float(cos(a))
                }
            }
        }
        return out
    }

    static func oneHot(_ y: [Int], _ k: Int) -> Tensor {
        var out = Tensor(shape: [y.count, k])
        out.withUnsafeMutableBufferPointer { p in for (b, c) in y.enumerated() { p[b * k + c] = 1 } }
        return out
    }

    /// h [B, H, W, C] + v [B, C] broadcast over positions.
    static func addPerChannel(_ h: inout Tensor, _ v: Tensor) {
        let b = h.shape[0], c = h.shape[3], pos = h.count / (b * c)
        h.withUnsafeMutableBufferPointer { ph in
            v.withUnsafeBufferPointer { pv in
                for n in 0..<b { for q in 0..<pos { for k in 0..<c { ph[(n * pos + q) * c + k] += pv[n * c + k] } } }
            }
        }
    }

    /// dL/dv [B, C] of `addPerChannel` from dL/dh: the sum over positions.
    static func sumPerChannel(_ g: Tensor) -> Tensor {
        let b = g.shape[0], c = g.shape[3], pos = g.count / (b * c)
        var out = Tensor(shape: [b, c])
        g.withUnsafeBufferPointer { pg in
            out.withUnsafeMutableBufferPointer { po in
                for n in 0..<b { for q in 0..<pos { for k in 0..<c { po[n * c + k] += pg[(n * pos + q) * c + k] } } }
            }
        }
        return out
    }

    /// ε̂ for latents z [B, h, w, L] at timesteps t with labels y (K = the null label).
    public func forward(_ z: Tensor, t: [Int], y: [Int]) -> (output: Tensor, cache: LayerCache) {
        let p = parameters
        precondition(t.count == z.shape[0] && y.count == z.shape[0] && y.allSatisfy { $0 >= 0 && $0 <= classCount })
        let (te, tc) = timeMLP.forward(Self.sinusoid(t), p)
        let (le, lc) = labelEmbedding.forward(Self.oneHot(y, classCount + 1), p)
        let (c, sc) = SiLU().forward(te + le, p)
        var (h, ic) = convIn.forward(z, p)
        var caches: [LayerCache] = [tc, lc, sc, ic]
        for blk in blocks {
            let (a1, n1) = blk.norm1.forward(h, p)
            let (a2, s1) = SiLU().forward(a1, p)
            var (a3, c1) = blk.conv1.forward(a2, p)
            let (cv, cc) = blk.cond.forward(c, p)
            Self.addPerChannel(&a3, cv)
            let (a4, n2) = blk.norm2.forward(a3, p)
            let (a5, s2) = SiLU().forward(a4, p)
            let (a6, c2) = blk.conv2.forward(a5, p)
            h += a6
            caches += [n1, s1, c1, cc, n2, s2, c2]
        }
        let (o1, no) = normOut.forward(h, p)
        let (o2, so) = SiLU().forward(o1, p)
        let (out, co) = convOut.forward(o2, p)
        caches += [no, so, co]
        return (out, LayerCache(children: caches))
    }

    /// Accumulate parameter gradients from dL/dε̂ (the latent gradient is not needed).
    public func backward(_ g: Tensor, _ cache: LayerCache) {
        let p = parameters
        let ch = cache.children
        var k = ch.count - 1
        func next() -> LayerCache { defer { k -= 1 }; return ch[k] }
        let co = next(), so = next(), no = next()
        var gh = normOut.backward(SiLU().backward(convOut.backward(g, co, p), so, p), no, p)
        var gc = Tensor(shape: [g.shape[0], embeddingSize])
        for blk in blocks.reversed() {
            let c2 = next(), s2 = next(), n2 = next(), cc = next(), c1 = next(), s1 = next(), n1 = next()
            let g3 = blk.norm2.backward(SiLU().backward(blk.conv2.backward(gh, c2, p), s2, p), n2, p)
            gc += blk.cond.backward(Self.sumPerChannel(g3), cc, p)
            gh += blk.norm1.backward(SiLU().backward(blk.conv1.backward(g3, c1, p), s1, p), n1, p)
        }
        let ic = next(), sc = next(), lc = next(), tc = next()
        _ = convIn.backward(gh, ic, p)
        let gce = SiLU().backward(gc, sc, p)
        _ = labelEmbedding.backward(gce, lc, p)
        _ = timeMLP.backward(gce, tc, p)
    }

    /// ε̂ with classifier-free guidance: ε_u + w·(ε_c − ε_u) (w = 1: conditional only; w = 0: unconditional).
    public func guidedNoise(_ z: Tensor, t: Int, y: [Int], guidance w: Float) -> Tensor {
        let b = z.shape[0]
        if w == 1 { return forward(z, t: Array(repeating: t, count: b), y: y).output }
        let both = Tensor.concatenate(rows: [z, z])
        let e = forward(both, t: Array(repeating: t, count: 2 * b), y: y + Array(repeating: classCount, count: b)).output
        let ec = e.slice(rows: 0..<b), eu = e.slice(rows: b..<(2 * b))
        return eu + w * (ec - eu) as Tensor
    }

    /// One DDPM training step on clean latents z0 [B, …] with labels: t ~ U{0…T−1}, ε ~ N(0, I),
    /// z_t = √ᾱ_t z0 + √(1−ᾱ_t) ε, labels replaced by the null label with probability `labelDropout`;
    /// loss = MSE(ε̂(z_t, t, y), ε). Gradients ADDED. Randomness from the stream keyed by `key`.
    public func trainingStep(_ z0: Tensor, labels: [Int], schedule: NoiseSchedule, labelDropout: Float, key: UInt64) -> Float {
        var rng = RandomStream(seed: key, 0x4444_504D)  // "DDPM"
        let b = z0.shape[0], per = z0.count / b
        let t = (0..<b).map { _ in Int(rng.nextUInt32() % UInt32(schedule.steps)) }
        let y = labels.map { rng.nextUniformFloat() < labelDropout ? classCount : $0 }
        let eps = rng.gaussian(shape: z0.shape)
        var zt = Tensor(shape: z0.shape)
        z0.withUnsafeBufferPointer { pz in
            eps.withUnsafeBufferPointer { pe in
                zt.withUnsafeMutableBufferPointer { pt in
                    for n in 0..<b {
                        let a = Float(schedule.alphaBar[t[n]].squareRoot()), s = Float((1 - schedule.alphaBar[t[n]]).squareRoot())
                        for j in 0..<per { pt[n * per + j] = a * pz[n * per + j] + s * pe[n * per + j] }
                    }
                }
            }
        }
        let (pred, cache) = forward(zt, t: t, y: y)
        let (loss, g) = Loss.meanSquaredError(pred, target: eps)
        backward(g, cache)
        return loss
    }

    /// Deterministic DDIM (η = 0) from z at timesteps `ts` (descending) to t = −1 (ᾱ = 1):
    /// x̂0 = (z − √(1−ᾱ_t) ε̂)/√ᾱ_t, z ← √ᾱ_prev x̂0 + √(1−ᾱ_prev) ε̂.
    public func ddim(_ start: Tensor, timesteps ts: [Int], y: [Int], guidance: Float, schedule: NoiseSchedule) -> Tensor {
        var z = start
        for (i, t) in ts.enumerated() {
            let e = guidedNoise(z, t: t, y: y, guidance: guidance)
            let a = schedule.alphaBar[t]
            let prev = i + 1 < ts.count ? schedule.alphaBar[ts[i + 1]] : 1
            let x0 = Float(1 / a.squareRoot()) * (z - Float((1 - a).squareRoot()) * e)
            z = Float(prev.squareRoot()) * x0 + Float((1 - prev).squareRoot()) * e
        }
        return z
    }

    /// Image-to-image (SDEdit with DDIM): noise the prototypes to the first kept timestep t0 of a `steps`-step
    /// schedule at `strength` (z = √ᾱ_t0 p + √(1−ᾱ_t0) ε, ε from `noise`), then denoise with guidance.
    /// Strength 0 returns the prototypes.
    public func imageToImage(
        prototypes: Tensor, labels: [Int], strength: Double, steps: Int, guidance: Float,
        schedule: NoiseSchedule, noise: Tensor
    ) -> Tensor {
        let ts = schedule.ddimTimesteps(count: steps, strength: strength)
        guard let t0 = ts.first else { return prototypes }
        let a = schedule.alphaBar[t0]
        let z = Float(a.squareRoot()) * prototypes + Float((1 - a).squareRoot()) * noise
        return ddim(z, timesteps: ts, y: labels, guidance: guidance, schedule: schedule)
    }

    /// Train for `epochs` over latents with Adam (cosine, warm-up 200) and label dropout; `progress(epoch, loss)`.
    public func train(
        latents: Tensor, labels: [Int], epochs: Int, batchSize: Int = 128, learningRate: Float = 1e-3,
        labelDropout: Float = 0.1, schedule: NoiseSchedule, seed: UInt64 = 0,
        progress: (Int, Double) -> Void = { _, _ in }
    ) throws {
        guard epochs >= 1, batchSize >= 1, labelDropout >= 0, labelDropout <= 1 else {
            throw DistillationError.invalidConfiguration(
                field: "denoiser epochs/batch/label dropout", value: "\(epochs)/\(batchSize)/\(labelDropout)",
                requirement: "epochs, batch ≥ 1, dropout in [0, 1]")
        }
        let n = latents.shape[0]
        let batcher = Batcher(count: n, batchSize: Swift.min(batchSize, n), dropLast: true, shuffle: true, seed: seed)
        let total = epochs * batcher.batchesPerEpoch
        let lr = LearningRateSchedule.cosine(base: learningRate, warmup: Swift.min(200, total / 10), total: total, floor: 0)
        var opt = try Adam()
        var step = 0, sum = 0.0
        var loop = TrainingLoop(batcher: batcher, learningRate: { lr.lr(step: $0) })
        loop.clipping = .maxNorm(1)
        try loop.run(
            epochs: 0..<epochs, step: &step, parameters: parameters, optimizer: &opt, statCount: 1,
            beforeEpoch: { _ in sum = 0 },
            compute: { position, _ in
                let idx = position.indices
                return [
                    Double(
                        trainingStep(
                            gatherRows(latents, idx), labels: idx.map { labels[$0] }, schedule: schedule,
                            labelDropout: labelDropout, key: seed &+ UInt64(position.step) &* 0x9E37_79B9_7F4A_7C15))
                ]
            }, afterStep: { _, loss, _ in sum += loss[0] },
            afterEpoch: { epoch, _, _ in
                let mean = sum / Double(batcher.batchesPerEpoch)
                guard mean.isFinite else {
                    throw DistillationError.invalidConfiguration(field: "denoiser loss", value: "\(mean)", requirement: "finite (training diverged)")
                }
                progress(epoch + 1, mean)
            })
    }

    public func save(to url: URL, metadata: [String: String] = [:]) throws {
        var m = metadata
        m["equicert.architecture"] = Self.architecture
        m["equicert.latent-shape"] = latentShape.map(String.init).joined(separator: ",")
        m["equicert.classes"] = "\(classCount)"
        m["equicert.width"] = "\(width)"
        m["equicert.blocks"] = "\(blocks.count)"
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try parameters.save(to: url, metadata: m)
    }

    public static func load(from url: URL, latentShape: [Int], classCount: Int) throws -> LatentDenoiser {
        let file = try SafeTensorsFile(contentsOf: url)
        let m = file.metadata
        guard m["equicert.architecture"] == architecture else {
            throw DistillationError.badSetFile(path: url.path, reason: "not a latent denoiser (architecture \(m["equicert.architecture"] ?? "none"))")
        }
        let shape = (m["equicert.latent-shape"] ?? "").split(separator: ",").compactMap { Int($0) }
        guard shape == latentShape, Int(m["equicert.classes"] ?? "") == classCount,
            let width = Int(m["equicert.width"] ?? ""), let blocks = Int(m["equicert.blocks"] ?? "")
        else {
            throw DistillationError.badSetFile(
                path: url.path,
                reason: "denoiser for latents \(shape) and \(m["equicert.classes"] ?? "?") classes; "
                    + "the autoencoder gives \(latentShape) and the data has \(classCount) classes")
        }
        let d = LatentDenoiser(latentShape: shape, classCount: classCount, width: width, blocks: blocks)
        try d.parameters.load(from: file)
        return d
    }
}
