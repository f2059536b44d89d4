import Datasets
import Foundation
import NeuralNet
import Optimizers
import TensorCore
import TrainingLoop

/// The latent space of D4M (docs/models.md §5): a small convolutional autoencoder, images [B, H, W, C] in [0, 1]
/// (H, W divisible by 4) ↔ latents [B, H/4, W/4, L], with a latent scale s so that s·z has unit variance over
/// the training set (the diffusion model works on s·z, like Stable Diffusion's 0.18215).
///
/// Encoder: conv3×3 C→32, SiLU, avgpool 2, conv3×3 32→64, SiLU, avgpool 2, conv3×3 64→L.
/// Decoder: conv3×3 L→64, SiLU, upsample 2, conv3×3 64→32, SiLU, upsample 2, conv3×3 32→C.
/// Loss: mean squared reconstruction error.
public struct LatentAutoencoder {
    public static let architecture = "latent-autoencoder"
    public let imageShape: [Int]
    public let latentChannels: Int
    public let parameters: ParameterStore
    public let encoder: Sequential
    public let decoder: Sequential
    /// s: latents fed to the diffusion model are s·encode(x).
    public var latentScale: Float = 1

    public init(imageShape: [Int], latentChannels: Int = 4, seed: UInt64 = 0) throws(DistillationError) {
        guard imageShape.count == 3, imageShape[0] % 4 == 0, imageShape[1] % 4 == 0, latentChannels >= 1 else {
            throw .invalidConfiguration(field: "image shape", value: "\(imageShape)", requirement: "[H, W, C] with H and W divisible by 4")
        }
        self.imageShape = imageShape; self.latentChannels = latentChannels
        let p = ParameterStore(seed: seed)
        let c = imageShape[2]
        encoder = Sequential([
            Convolution2D("enc.conv0", inChannels: c, outChannels: 32, kernelSize: 3, padding: 1, in: p), SiLU(), AveragePooling2D(window: 2),
            Convolution2D("enc.conv1", inChannels: 32, outChannels: 64, kernelSize: 3, padding: 1, in: p), SiLU(), AveragePooling2D(window: 2),
            Convolution2D("enc.conv2", inChannels: 64, outChannels: latentChannels, kernelSize: 3, padding: 1, in: p),
        ])
        decoder = Sequential([
            Convolution2D("dec.conv0", inChannels: latentChannels, outChannels: 64, kernelSize: 3, padding: 1, in: p), SiLU(), Upsample2D(factor: 2),
            Convolution2D("dec.conv1", inChannels: 64, outChannels: 32, kernelSize: 3, padding: 1, in: p), SiLU(), Upsample2D(factor: 2),
            Convolution2D("dec.conv2", inChannels: 32, outChannels: c, kernelSize: 3, padding: 1, in: p),
        ])
        parameters = p
    }

    public var latentShape: [Int] { [imageShape[0] / 4, imageShape[1] / 4, latentChannels] }

    /// Scaled latents s·encode(x) [B, H/4, W/4, L], in batches of `batchSize`.
    public func encode(_ images: Tensor, batchSize: Int = 500) -> Tensor {
        mapBatches(images, batchSize: batchSize, outShape: latentShape) { latentScale * encoder($0, parameters) }
    }

    /// Images decode(z/s) [B, H, W, C], clamped to [0, 1].
    public func decode(_ latents: Tensor, batchSize: Int = 500) -> Tensor {
        var y = mapBatches(latents, batchSize: batchSize, outShape: imageShape) { decoder((1 / latentScale) * $0, parameters) }
        y.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] = Swift.min(1, Swift.max(0, p[i])) } }
        return y
    }

    func mapBatches(_ x: Tensor, batchSize: Int, outShape: [Int], _ f: (Tensor) -> Tensor) -> Tensor {
        let n = x.shape[0]
        var out = Tensor(shape: [n] + outShape)
        let per = outShape.reduce(1, *)
        var start = 0
        while start < n {
            let end = Swift.min(n, start + batchSize)
            let y = f(x.slice(rows: start..<end))
            out.withUnsafeMutableBufferPointer { po in
                y.withUnsafeBufferPointer { py in
                    for i in 0..<py.count { po[start * per + i] = py[i] }
                }
            }
            start = end
        }
        return out
    }

    /// Mean squared reconstruction error of a batch; gradients ADDED to `parameters.gradients`.
    public func trainingStep(_ x: Tensor) -> Float {
        let (z, ce) = encoder.forward(x, parameters)
        let (y, cd) = decoder.forward(z, parameters)
        let (loss, g) = Loss.meanSquaredError(y, target: x)
        let gz = decoder.backward(g, cd, parameters)
        _ = encoder.backward(gz, ce, parameters)
        return loss
    }

    /// Train with Adam (cosine schedule) for `epochs` over `images`; then set the latent scale to 1/std of the
    /// latents of (up to 10,000 of) the training images. `progress` gets (epoch, mean loss).
    public mutating func train(
        images: Tensor, epochs: Int, batchSize: Int = 128, learningRate: Float = 2e-3, seed: UInt64 = 0,
        progress: (Int, Double) -> Void = { _, _ in }
    ) throws {
        guard epochs >= 1, batchSize >= 1 else {
            throw DistillationError.invalidConfiguration(field: "autoencoder epochs/batch", value: "\(epochs)/\(batchSize)", requirement: "≥ 1")
        }
        let n = images.shape[0]
        let batcher = Batcher(count: n, batchSize: Swift.min(batchSize, n), dropLast: true, shuffle: true, seed: seed)
        let schedule = LearningRateSchedule.cosine(base: learningRate, warmup: 100, total: epochs * batcher.batchesPerEpoch, floor: 0)
        var opt = try Adam()
        var step = 0, sum = 0.0
        let model = self
        try TrainingLoop(batcher: batcher, learningRate: { schedule.lr(step: $0) })
            .run(
                epochs: 0..<epochs, step: &step, parameters: parameters, optimizer: &opt, statCount: 1,
                beforeEpoch: { _ in sum = 0 },
                compute: { position, _ in [Double(model.trainingStep(gatherRows(images, position.indices)))] },
                afterStep: { _, loss, _ in sum += loss[0] },
                afterEpoch: { epoch, _, _ in
                    let mean = sum / Double(batcher.batchesPerEpoch)
                    guard mean.isFinite else {
                        throw DistillationError.invalidConfiguration(
                            field: "autoencoder loss", value: "\(mean)", requirement: "finite (training diverged)")
                    }
                    progress(epoch + 1, mean)
                })
        latentScale = 1
        let sample = images.slice(rows: 0..<Swift.min(n, 10_000))
        let z = encode(sample)
        let mean = z.scalars.reduce(0, +) / Float(z.count)
        let variance = z.scalars.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(z.count)
        latentScale = 1 / Swift.max(variance.squareRoot(), 1e-6)
    }

    /// Save parameters and geometry (safetensors, atomically).
    public func save(to url: URL, metadata: [String: String] = [:]) throws {
        var m = metadata
        m["equicert.architecture"] = Self.architecture
        m["equicert.image-shape"] = imageShape.map(String.init).joined(separator: ",")
        m["equicert.latent-channels"] = "\(latentChannels)"
        m["equicert.latent-scale"] = "\(latentScale)"
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try parameters.save(to: url, metadata: m)
    }

    /// Load an autoencoder saved by `save`; errors name the file and the mismatch.
    public static func load(from url: URL, expectingImageShape shape: [Int]) throws -> LatentAutoencoder {
        let file = try SafeTensorsFile(contentsOf: url)
        let m = file.metadata
        guard m["equicert.architecture"] == architecture else {
            throw DistillationError.badSetFile(
                path: url.path, reason: "not a latent autoencoder (architecture \(m["equicert.architecture"] ?? "none"))")
        }
        let stored = (m["equicert.image-shape"] ?? "").split(separator: ",").compactMap { Int($0) }
        guard stored == shape else {
            throw DistillationError.badSetFile(path: url.path, reason: "autoencoder for images \(stored), the data has \(shape)")
        }
        guard let l = Int(m["equicert.latent-channels"] ?? ""), let s = Float(m["equicert.latent-scale"] ?? ""), s.isFinite, s > 0 else {
            throw DistillationError.badSetFile(path: url.path, reason: "latent channels or scale missing from the metadata")
        }
        var ae = try LatentAutoencoder(imageShape: shape, latentChannels: l)
        try ae.parameters.load(from: file)
        ae.latentScale = s
        return ae
    }
}

/// Rows `indices` of x [N, …] as a new tensor [indices.count, …].
func gatherRows(_ x: Tensor, _ indices: [Int]) -> Tensor {
    DistilledEvaluation.gather(x, rows: indices, inner: x.count / Swift.max(x.shape[0], 1), imageShape: Array(x.shape.dropFirst()))
}
