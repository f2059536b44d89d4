// D4M's pieces: upsampling/SiLU gradients, the autoencoder, the denoiser's backward against finite differences,
// the DDPM schedule, DDIM with an oracle, image-to-image, and per-class generation independent of order.
import Foundation
import NeuralNet
import TensorCore
import Testing
import _TestSupport

@testable import Distillation

@Suite("Latent diffusion (D4M)")
struct LatentDiffusionTests {
    @Test("Upsample2D and SiLU: backward matches central differences")
    func layerGradients() {
        var rng = TestRandom(seed: 1)
        let p = ParameterStore(seed: 0)
        let x = rng.tensor([2, 3, 2, 3])
        for layer in [Upsample2D(factor: 2) as any Layer, SiLU()] {
            let e = layerGradientErrors(layer, p, input: x)
            #expect(e.input < 1e-3, "\(layer): \(e)")
        }
        let y = Upsample2D(factor: 2)(Tensor(shape: [1, 1, 2, 1], scalars: [1, 2]), p)
        #expect(y.shape == [1, 2, 4, 1] && y.scalars == [1, 1, 2, 2, 1, 1, 2, 2])
    }

    @Test("denoiser: parameter gradients of a probe loss match central differences")
    func denoiserGradient() {
        let d = LatentDenoiser(latentShape: [3, 3, 2], classCount: 3, width: 8, blocks: 2, seed: 4)
        var rng = TestRandom(seed: 2)
        // Larger weights than the near-zero initialisation of conv2, so every path carries gradient.
        for i in 0..<d.parameters.count { d.parameters.values[i] += 0.2 * rng.uniform(-1, 1) }
        let z = rng.tensor([2, 3, 3, 2])
        let t = [5, 700], y = [1, 3]
        let (out, cache) = d.forward(z, t: t, y: y)
        let r = rng.tensor(out.shape)
        d.parameters.zeroGradients()
        d.backward(r, cache)
        let analytic = d.parameters.gradients
        let saved = d.parameters.values
        let fd = finiteDifferenceGradient(saved, step: 1e-2) { v in
            d.parameters.values = v
            return probe(d.forward(z, t: t, y: y).output, r)
        }
        d.parameters.values = saved
        #expect(relativeNormError(analytic, fd) < 2e-3, "relative error \(relativeNormError(analytic, fd))")
    }

    @Test("DDPM schedule and DDIM timesteps")
    func schedule() {
        let s = NoiseSchedule()
        #expect(abs(s.alphaBar[0] - (1 - 1e-4)) < 1e-12)
        // ᾱ_T of the linear 1e-4…0.02 schedule over 1000 steps ≈ 4.04e-5 (Ho et al.).
        #expect(s.alphaBar[999] > 3.5e-5 && s.alphaBar[999] < 4.5e-5)
        #expect(s.ddimTimesteps(count: 50) == stride(from: 980, through: 0, by: -20).map { $0 })
        #expect(s.ddimTimesteps(count: 50, strength: 0.7) == stride(from: 680, through: 0, by: -20).map { $0 })  // 35 steps
        #expect(s.ddimTimesteps(count: 50, strength: 0).isEmpty)
    }

    @Test("DDIM with the true noise recovers x0 exactly; image-to-image at strength 0 is the identity")
    func ddimOracle() {
        let s = NoiseSchedule()
        var rng = TestRandom(seed: 3)
        let x0 = rng.tensor([1, 2, 2, 1]), eps = rng.tensor([1, 2, 2, 1])
        // An oracle ε̂ = ε: z_t = √ᾱ x0 + √(1−ᾱ) ε stays on the same DDIM trajectory and ends at x0.
        var z = Float(s.alphaBar[980].squareRoot()) * x0 + Float((1 - s.alphaBar[980]).squareRoot()) * eps
        let ts = s.ddimTimesteps(count: 50)
        for (i, t) in ts.enumerated() {
            let a = s.alphaBar[t], prev = i + 1 < ts.count ? s.alphaBar[ts[i + 1]] : 1
            let x0Hat = Float(1 / a.squareRoot()) * (z - Float((1 - a).squareRoot()) * eps)
            z = Float(prev.squareRoot()) * x0Hat + Float((1 - prev).squareRoot()) * eps
        }
        #expect(relativeMaxError(z, x0) < 1e-3)
        let d = LatentDenoiser(latentShape: [2, 2, 1], classCount: 2, width: 8, blocks: 1)
        let out = d.imageToImage(prototypes: x0, labels: [0], strength: 0, steps: 50, guidance: 2, schedule: s, noise: eps)
        #expect(out == x0)
    }

    @Test("a denoiser learns: training loss falls on a toy latent data set")
    func denoiserLearns() throws {
        // Two classes of 2×2×1 latents at ±1 with small noise.
        var rng = TestRandom(seed: 5)
        let n = 256
        let labels = (0..<n).map { $0 % 2 }
        let latents = Tensor(
            shape: [n, 2, 2, 1], scalars: (0..<n).flatMap { i in (0..<4).map { _ in Float(labels[i] == 0 ? 1 : -1) + 0.1 * rng.uniform(-1, 1) } })
        let d = LatentDenoiser(latentShape: [2, 2, 1], classCount: 2, width: 16, blocks: 1, seed: 1)
        var losses: [Double] = []
        try d.train(
            latents: latents, labels: labels, epochs: 30, batchSize: 64, learningRate: 3e-3, schedule: NoiseSchedule(steps: 100),
            seed: 2
        ) { _, l in losses.append(l) }
        #expect(losses.last! < 0.7 * losses.first!, "losses \(losses.first!) → \(losses.last!)")
        // Class-conditional sampling from noise lands on the class's sign.
        let schedule = NoiseSchedule(steps: 100)
        var noise = RandomStream(seed: 9, 0)
        let z = d.ddim(
            noise.gaussian(shape: [8, 2, 2, 1]), timesteps: schedule.ddimTimesteps(count: 20),
            y: [0, 0, 0, 0, 1, 1, 1, 1], guidance: 2, schedule: schedule)
        let means = (0..<8).map { i in z.slice(rows: i..<(i + 1)).scalars.reduce(0, +) / 4 }
        #expect(means[0..<4].filter { $0 > 0 }.count >= 3 && means[4..<8].filter { $0 < 0 }.count >= 3, "\(means)")
    }

    @Test("autoencoder: reconstruction improves, unit-variance latents, save/load round trip and shape errors")
    func autoencoder() throws {
        var rng = TestRandom(seed: 6)
        // Smooth 8×8 blobs at random places.
        let n = 128
        var scalars: [Float] = []
        for _ in 0..<n {
            let cx = rng.uniform(2, 6), cy = rng.uniform(2, 6)
            for i in 0..<8 { for j in 0..<8 { scalars.append(expf(-((Float(i) - cy) * (Float(i) - cy) + (Float(j) - cx) * (Float(j) - cx)) / 4)) } }
        }
        let images = Tensor(shape: [n, 8, 8, 1], scalars: scalars)
        var ae = try LatentAutoencoder(imageShape: [8, 8, 1], latentChannels: 2, seed: 0)
        var losses: [Double] = []
        try ae.train(images: images, epochs: 15, batchSize: 32, learningRate: 3e-3) { _, l in losses.append(l) }
        #expect(losses.last! < 0.5 * losses.first!, "\(losses.first!) → \(losses.last!)")
        let z = ae.encode(images)
        #expect(z.shape == [n, 2, 2, 2])
        let m = z.scalars.reduce(0, +) / Float(z.count)
        let v = z.scalars.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Float(z.count)
        #expect(abs(v - 1) < 1e-3)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ae-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try ae.save(to: url)
        let back = try LatentAutoencoder.load(from: url, expectingImageShape: [8, 8, 1])
        #expect(back.latentScale == ae.latentScale && back.decode(z) == ae.decode(z))
        #expect(throws: DistillationError.self) { try LatentAutoencoder.load(from: url, expectingImageShape: [28, 28, 1]) }
        #expect(throws: DistillationError.self) { try LatentAutoencoder(imageShape: [10, 10, 1]) }
    }

    @Test("D4M generation of a class does not depend on which other classes are generated (rank independence)")
    func generationIsPerClass() throws {
        var rng = TestRandom(seed: 7)
        let ae = try LatentAutoencoder(imageShape: [8, 8, 1], latentChannels: 2, seed: 0)
        let d = LatentDenoiser(latentShape: [2, 2, 2], classCount: 3, width: 8, blocks: 1, seed: 0)
        var s = D4MSettings(ipc: 2); s.steps = 10
        let g = try D4MGenerator(autoencoder: ae, denoiser: d, settings: s)
        let images = rng.tensor([12, 8, 8, 1])
        for method in GenerativeMethod.allCases {
            let a = g.generate(method: method, classIndex: 1, images: images)
            _ = g.generate(method: method, classIndex: 0, images: images)
            let b = g.generate(method: method, classIndex: 1, images: images)
            #expect(a == b && a.shape == [2, 8, 8, 1], "\(method)")
            #expect(a.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
        var bad = s; bad.strength = 1.5
        #expect(throws: DistillationError.self) { try D4MGenerator(autoencoder: ae, denoiser: d, settings: bad) }
    }
}
