import Datasets
import Equilibrium
import Foundation
import TensorCore

/// The image data sets the jobs know by name.
public enum ImageDataSource: String, Sendable, CaseIterable {
    case mnist
    case fashionMNIST = "fashion-mnist"
    /// CIFAR-10, binary version (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`): [N, 32, 32, 3].
    case cifar10
    /// MNIST zero-padded to 32 × 32 with its channel replicated to 3: CIFAR-shaped images [N, 32, 32, 3] for training
    /// and certifying CIFAR-sized models (MDEQ) on a machine without CIFAR-10.
    case mnist32 = "mnist-32x32x3"

    /// Parse a `--data` value.
    public init(parsing s: String) throws {
        guard let v = ImageDataSource(rawValue: s.lowercased()) else {
            throw CoordinatorError.invalidOption(
                name: "data", value: s,
                reason: "expected one of \(Self.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = v
    }

    /// Load a split from `directory` when given (`--data-dir`), else from the first place the data locator finds it.
    public func load(split: ImageDataset.Split, directory: String? = nil, locator: DataLocator = .process) throws -> ImageDataset {
        let dir =
            try directory.map { URL(fileURLWithPath: $0) }
            ?? locator.locate(self == .mnist32 ? ImageDataSource.mnist.rawValue : rawValue, requiring: [])
        switch self {
        case .mnist: return try ImageDataset.mnist(directory: dir, split: split)
        case .fashionMNIST: return try ImageDataset.fashionMNIST(directory: dir, split: split)
        case .cifar10: return try ImageDataset.cifar10(directory: dir, split: split)
        case .mnist32: return try ImageDataset.mnist(directory: dir, split: split).paddedRGB(side: 32)
        }
    }

    /// Image shape [H, W, c] of the set (10 classes each).
    public var imageShape: [Int] {
        switch self {
        case .mnist, .fashionMNIST: return [28, 28, 1]
        case .cifar10, .mnist32: return [32, 32, 3]
        }
    }

    /// The directory the data locator reads this data set from (where `load` reads it).
    public func directory(locator: DataLocator = .process) throws -> String {
        try locator.locate(rawValue, requiring: []).path
    }

    /// Normalisation constants (applied inside the model).
    public var normalization: (mean: Float, std: Float) {
        switch self {
        case .mnist: return (0.1307, 0.3081)
        case .mnist32: return (0.1001, 0.2752)  // MNIST's moments with the 4-pixel zero border (784/1024 of the pixels)
        case .fashionMNIST: return (0.2860, 0.3530)
        case .cifar10: return (0.4734, 0.2009)  // the mean of the per-channel constants (MDEQs normalise per channel inside)
        }
    }
}

extension ImageDataset {
    /// Zero-pad [N, h, w, 1] images centred to [N, side, side, 3] (the channel replicated); labels and classes kept.
    func paddedRGB(side: Int) -> ImageDataset {
        let (n, h, w) = (count, imageShape[0], imageShape[1])
        let top = (side - h) / 2, left = (side - w) / 2
        var out = [Float](repeating: 0, count: n * side * side * 3)
        for i in 0..<n {
            for y in 0..<h {
                for x in 0..<w {
                    let v = images.scalars[(i * h + y) * w + x]
                    let o = ((i * side + y + top) * side + x + left) * 3
                    out[o] = v; out[o + 1] = v; out[o + 2] = v
                }
            }
        }
        return ImageDataset(
            name: name + "-32x32x3", images: Tensor(shape: [n, side, side, 3], scalars: out), labels: labels,
            classNames: classNames, mean: [Float](repeating: 0.1001, count: 3), std: [Float](repeating: 0.2752, count: 3))
    }
}

/// A DEQ checkpoint must match the data set's image shape and class count.
public func checkModelFitsData(_ c: DEQConfiguration, _ data: ImageDataset, source: String) throws {
    guard data.imageShape == [c.inputHeight, c.inputWidth, c.inputChannels], data.classCount == c.classes else {
        throw CoordinatorError.modelDataMismatch(
            model: "deq-s for [\(c.inputHeight), \(c.inputWidth), \(c.inputChannels)] images, \(c.classes) classes",
            data: source, reason: "data has \(data.imageShape) images, \(data.classCount) classes")
    }
}
