import Foundation
import NeuralNet
import TensorCore

/// A distilled data set: a few images per class with hard labels and, optionally, a teacher's soft labels.
///
/// Shapes: `images` [N, H, W, C] (channels-last, pixels in [0, 1]), `labels` N integers in [0, K),
/// `softLabels` [N, K] rows summing to 1 (teacher probabilities softmax(z / T) at `softLabelTemperature` T).
/// Provenance (`datasetName`, `method`, `ipc`, `seed`) travels with the set into its file.
public struct DistilledSet: Sendable, Equatable {
    /// Images [N, H, W, C].
    public var images: Tensor
    /// Hard labels, N values in [0, classCount).
    public var labels: [Int]
    /// Teacher soft labels [N, classCount], or nil.
    public var softLabels: Tensor?
    /// Temperature T the soft labels were computed at (softmax(z/T)); nil without soft labels.
    public var softLabelTemperature: Float?
    /// Number of classes K.
    public var classCount: Int
    /// The real data set it was distilled from ("mnist", "fashion-mnist").
    public var datasetName: String
    /// The method that produced it ("random", "herding", "kmeans-pixel", "d4m", …).
    public var method: String
    /// Images per class.
    public var ipc: Int
    /// The seed the method was run with.
    public var seed: UInt64

    public init(
        images: Tensor, labels: [Int], softLabels: Tensor? = nil, softLabelTemperature: Float? = nil,
        classCount: Int, datasetName: String, method: String, ipc: Int, seed: UInt64
    ) {
        precondition(images.rank == 4 && images.shape[0] == labels.count, "images \(images.shape) vs \(labels.count) labels")
        precondition(labels.allSatisfy { $0 >= 0 && $0 < classCount }, "label outside 0..<\(classCount)")
        if let softLabels {
            precondition(softLabels.shape == [labels.count, classCount], "soft labels \(softLabels.shape)")
        }
        self.images = images
        self.labels = labels
        self.softLabels = softLabels
        self.softLabelTemperature = softLabels == nil ? nil : (softLabelTemperature ?? 1)
        self.classCount = classCount
        self.datasetName = datasetName
        self.method = method
        self.ipc = ipc
        self.seed = seed
    }

    /// Number of images N.
    public var count: Int { labels.count }
    /// [H, W, C].
    public var imageShape: [Int] { Array(images.shape.dropFirst()) }
    /// Images per class, K values.
    public var classHistogram: [Int] {
        var h = [Int](repeating: 0, count: classCount)
        for l in labels { h[l] += 1 }
        return h
    }

    /// Refuse a set that does not fit a data set / architecture with images `imageShape` [H, W, C] and
    /// `classCount` classes. `path` names the set's file in the error.
    public func validate(imageShape expected: [Int], classCount expectedClasses: Int, path: String) throws(DistillationError) {
        guard imageShape == expected else {
            throw .imageShapeMismatch(path: path, expected: expected, found: imageShape)
        }
        guard classCount == expectedClasses else {
            throw .classCountMismatch(path: path, expected: expectedClasses, found: classCount)
        }
    }
}

extension DistilledSet {
    /// The `format` metadata value of a distilled-set file.
    public static let fileFormat = "equicert-distilled-set"

    /// Write the set as ONE safetensors file, atomically: tensors `images` [N,H,W,C], `labels` [N] (as F32),
    /// `soft_labels` [N,K] when present; metadata `format`, `version`, `dataset`, `method`, `ipc`, `seed`,
    /// `classes`, `soft_label_temperature`, plus `extra` (e.g. generation settings).
    public func save(to url: URL, extra: [String: String] = [:]) throws {
        var tensors: [(name: String, tensor: Tensor)] = [
            ("images", images), ("labels", Tensor(shape: [count], scalars: labels.map(Float.init))),
        ]
        var metadata = extra
        metadata["format"] = Self.fileFormat
        metadata["version"] = "1"
        metadata["dataset"] = datasetName
        metadata["method"] = method
        metadata["ipc"] = String(ipc)
        metadata["seed"] = String(seed)
        metadata["classes"] = String(classCount)
        if let softLabels {
            tensors.append(("soft_labels", softLabels))
            metadata["soft_label_temperature"] = String(softLabelTemperature ?? 1)
        }
        try SafeTensorsWriter.write(tensors: tensors, metadata: metadata, to: url)
    }

    /// Read a set written by `save`. Throws `DistillationError.badSetFile` for a file that is not one
    /// (wrong format tag, missing tensor, labels out of range, inconsistent shapes); safetensors-level
    /// errors come from `NeuralNet`.
    public static func load(from url: URL) throws -> DistilledSet {
        let path = url.path
        let file = try SafeTensorsFile(contentsOf: url)
        func bad(_ reason: String) -> DistillationError { .badSetFile(path: path, reason: reason) }
        guard file.metadata["format"] == fileFormat else {
            throw bad("metadata format is \(file.metadata["format"].map { "'\($0)'" } ?? "missing"), expected '\(fileFormat)'")
        }
        func meta(_ key: String) throws -> String {
            guard let v = file.metadata[key] else { throw bad("metadata '\(key)' missing") }
            return v
        }
        guard let classes = Int(try meta("classes")), classes >= 1 else { throw bad("metadata 'classes' is not a positive integer") }
        guard let ipc = Int(try meta("ipc")) else { throw bad("metadata 'ipc' is not an integer") }
        guard let seed = UInt64(try meta("seed")) else { throw bad("metadata 'seed' is not an unsigned integer") }
        for name in ["images", "labels"] where !file.contains(name) { throw bad("tensor '\(name)' missing") }
        let images = try file.float32("images")
        let labelTensor = try file.float32("labels")
        guard images.rank == 4, images.shape[0] >= 1 else { throw bad("images have shape \(images.shape), expected [N, H, W, C]") }
        let n = images.shape[0]
        guard labelTensor.shape == [n] else { throw bad("labels have shape \(labelTensor.shape), expected [\(n)]") }
        var labels: [Int] = []
        labels.reserveCapacity(n)
        for (i, v) in labelTensor.scalars.enumerated() {
            guard v == v.rounded(), v >= 0, Int(v) < classes else { throw bad("label \(v) of image \(i) is not in 0..<\(classes)") }
            labels.append(Int(v))
        }
        var soft: Tensor? = nil
        var temperature: Float? = nil
        if file.contains("soft_labels") {
            let s = try file.float32("soft_labels")
            guard s.shape == [n, classes] else { throw bad("soft_labels have shape \(s.shape), expected [\(n), \(classes)]") }
            soft = s
            guard let t = Float(file.metadata["soft_label_temperature"] ?? "1"), t > 0 else {
                throw bad("metadata 'soft_label_temperature' is not a positive number")
            }
            temperature = t
        }
        return DistilledSet(
            images: images, labels: labels, softLabels: soft, softLabelTemperature: temperature,
            classCount: classes, datasetName: try meta("dataset"), method: try meta("method"),
            ipc: ipc, seed: seed)
    }

    /// `load(from:)` then `validate(imageShape:classCount:path:)`.
    public static func load(from url: URL, expectingImageShape shape: [Int], classCount: Int) throws -> DistilledSet {
        let set = try load(from: url)
        try set.validate(imageShape: shape, classCount: classCount, path: url.path)
        return set
    }
}
