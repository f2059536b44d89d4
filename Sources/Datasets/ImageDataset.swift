// A labelled image data set held in memory as one channels-last tensor.
import TensorCore

/// A labelled image data set: `images` is `[N, H, W, C]` with values in `[0, 1]`, `labels[i] ∈ 0..<classCount`.
///
/// Normalisation constants are stored, not applied: a model computes `(x − mean[c]) / std[c]` per channel `c`.
public struct ImageDataset: Sendable {
    /// The standard partitions of the image benchmarks.
    public enum Split: String, Sendable, CaseIterable {
        case train, test
    }

    /// Short name, e.g. `"mnist-train"`.
    public var name: String
    /// Pixels, `[N, H, W, C]`, channels-last, scaled from bytes by `1/255` into `[0, 1]`.
    public var images: Tensor
    /// Class index of each image, `labels.count == N`.
    public var labels: [Int]
    /// Human-readable class names; `classNames.count` is the number of classes.
    public var classNames: [String]
    /// Per-channel mean for normalisation (length C).
    public var mean: [Float]
    /// Per-channel standard deviation for normalisation (length C).
    public var std: [Float]

    /// Number of classes.
    public var classCount: Int { classNames.count }
    /// Number of images N.
    public var count: Int { labels.count }
    /// Shape of one image, `[H, W, C]`.
    public var imageShape: [Int] { Array(images.shape.dropFirst()) }

    /// A data set from its parts; preconditions: `images` is rank 4, one label per image, labels in range,
    /// one mean and one std per channel.
    public init(name: String, images: Tensor, labels: [Int], classNames: [String], mean: [Float], std: [Float]) {
        precondition(images.rank == 4, "images must be [N, H, W, C], got \(images.shape)")
        precondition(images.shape[0] == labels.count, "\(images.shape[0]) images but \(labels.count) labels")
        precondition(labels.allSatisfy { $0 >= 0 && $0 < classNames.count }, "label outside 0..<\(classNames.count)")
        precondition(mean.count == images.shape[3] && std.count == images.shape[3], "one mean/std per channel")
        self.name = name
        self.images = images
        self.labels = labels
        self.classNames = classNames
        self.mean = mean
        self.std = std
    }

    /// The images and labels at `indices` (in that order): a batch `[b, H, W, C]` and its `b` labels.
    public func batch(_ indices: [Int]) -> (images: Tensor, labels: [Int]) {
        let inner = images.shape.dropFirst().reduce(1, *)
        var out = [Float](repeating: 0, count: indices.count * inner)
        images.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (row, i) in indices.enumerated() {
                    precondition(i >= 0 && i < count, "index \(i) outside 0..<\(count)")
                    let from = UnsafeBufferPointer(rebasing: src[(i * inner)..<((i + 1) * inner)])
                    _ = UnsafeMutableBufferPointer(rebasing: dst[(row * inner)..<((row + 1) * inner)])
                        .initialize(from: from)
                }
            }
        }
        return (Tensor(shape: [indices.count] + imageShape, scalars: out), indices.map { labels[$0] })
    }

    /// The sub-data-set at `indices` (same class names and normalisation).
    public func subset(_ indices: [Int], name: String? = nil) -> ImageDataset {
        let (x, y) = batch(indices)
        return ImageDataset(
            name: name ?? self.name, images: x, labels: y, classNames: classNames,
            mean: mean, std: std)
    }

    /// Number of examples of each class, `histogram[c] = #{i : labels[i] == c}`.
    public var classHistogram: [Int] {
        var h = [Int](repeating: 0, count: classCount)
        for y in labels { h[y] += 1 }
        return h
    }

    /// Bytes `0…255` to Floats `0…1` (`v / 255`).
    static func unitFloats(_ bytes: [UInt8]) -> [Float] {
        var out = [Float](repeating: 0, count: bytes.count)
        bytes.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<src.count { dst[i] = Float(src[i]) / 255 }
            }
        }
        return out
    }
}
