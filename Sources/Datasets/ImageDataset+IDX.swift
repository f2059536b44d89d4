// MNIST and Fashion-MNIST loaders (IDX files, raw or gzip).
import Foundation
import TensorCore

extension ImageDataset {
    /// MNIST class names (the digits).
    public static let mnistClassNames = (0..<10).map(String.init)
    /// Fashion-MNIST class names (Zalando's label order).
    public static let fashionMNISTClassNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// MNIST from `directory` holding `train-images-idx3-ubyte(.gz)` etc. (`t10k-…` for the test split).
    ///
    /// Images `[N, 28, 28, 1]` in `[0, 1]`; N = 60,000 (train) or 10,000 (test) for the canonical files.
    /// Normalisation: mean 0.1307, std 0.3081 (of the training pixels).
    public static func mnist(directory: URL, split: Split) throws -> ImageDataset {
        try idxPair(
            directory: directory, split: split, name: "mnist", classNames: mnistClassNames,
            mean: 0.1307, std: 0.3081)
    }

    /// Fashion-MNIST from `directory` (same file names and shapes as MNIST).
    /// Normalisation: mean 0.2860, std 0.3530 (of the training pixels).
    public static func fashionMNIST(directory: URL, split: Split) throws -> ImageDataset {
        try idxPair(
            directory: directory, split: split, name: "fashion-mnist", classNames: fashionMNISTClassNames,
            mean: 0.2860, std: 0.3530)
    }

    /// A data set from an IDX image file `[N, H, W]` and an IDX label file `[N]` (single channel).
    ///
    /// Throws when either file is invalid, the counts differ, a label is `≥ classNames.count`, or
    /// (when given) the image size is not `imageSize`.
    public static func fromIDX(
        imagesPath: String, labelsPath: String, name: String, classNames: [String],
        mean: Float, std: Float, imageSize: (rows: Int, cols: Int)? = nil
    ) throws -> ImageDataset {
        let images = try IDXReader.readImages(path: imagesPath)
        let labels = try IDXReader.readLabels(path: labelsPath)
        let (n, rows, cols) = (images.dimensions[0], images.dimensions[1], images.dimensions[2])
        if let size = imageSize, size.rows != rows || size.cols != cols {
            throw DatasetsError.badHeader(
                path: imagesPath, reason: "images are \(rows)×\(cols), expected \(size.rows)×\(size.cols)")
        }
        guard labels.dimensions[0] == n else {
            throw DatasetsError.countMismatch(
                imagesPath: imagesPath, images: n,
                labelsPath: labelsPath, labels: labels.dimensions[0])
        }
        let classLabels = try checkedLabels(labels.bytes, path: labelsPath, classCount: classNames.count)
        return ImageDataset(
            name: name, images: Tensor(shape: [n, rows, cols, 1], scalars: unitFloats(images.bytes)),
            labels: classLabels, classNames: classNames, mean: [mean], std: [std])
    }

    /// Label bytes as Ints, each checked against `classCount`.
    static func checkedLabels(_ bytes: [UInt8], path: String, classCount: Int, stride: Int = 1) throws -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(bytes.count / stride)
        var index = 0
        for offset in Swift.stride(from: 0, to: bytes.count, by: stride) {
            let label = Int(bytes[offset])
            guard label < classCount else {
                throw DatasetsError.labelOutOfRange(path: path, index: index, label: label, classCount: classCount)
            }
            out.append(label)
            index += 1
        }
        return out
    }

    /// The path of `base` or `base.gz` in `directory` (the compressed one first).
    static func findFile(_ base: String, in directory: URL) throws -> String {
        let candidates = [base + ".gz", base].map { directory.appendingPathComponent($0).path }
        for path in candidates where FileManager.default.fileExists(atPath: path) { return path }
        throw DatasetsError.fileNotFound(path: directory.appendingPathComponent(base).path, tried: candidates)
    }

    private static func idxPair(
        directory: URL, split: Split, name: String, classNames: [String],
        mean: Float, std: Float
    ) throws -> ImageDataset {
        let prefix = split == .train ? "train" : "t10k"
        let imagesPath = try findFile("\(prefix)-images-idx3-ubyte", in: directory)
        let labelsPath = try findFile("\(prefix)-labels-idx1-ubyte", in: directory)
        return try fromIDX(
            imagesPath: imagesPath, labelsPath: labelsPath, name: "\(name)-\(split.rawValue)",
            classNames: classNames, mean: mean, std: std, imageSize: (28, 28))
    }
}
