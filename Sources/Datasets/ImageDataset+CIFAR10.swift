// CIFAR-10 binary version: records of 1 label byte + 3072 pixel bytes (R plane, G plane, B plane, each 32×32 row-major).
//
// Names in the conversion: n record, c channel, y row, x column; source offset n·3073 + 1 + c·1024 + y·32 + x,
// destination ((n·32 + y)·32 + x)·3 + c (channels-last).
import Foundation
import TensorCore

extension ImageDataset {
    /// CIFAR-10 class names in label order.
    public static let cifar10ClassNames = [
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
    ]
    /// Bytes per CIFAR-10 record: 1 label + 3 × 32 × 32 pixels.
    public static let cifar10RecordSize = 3073

    /// CIFAR-10 from `directory`: train = `data_batch_1.bin` … `data_batch_5.bin`, test = `test_batch.bin`
    /// (each may also be gzip-compressed with a `.gz` suffix).
    ///
    /// Images `[N, 32, 32, 3]` in `[0, 1]`. Normalisation: the per-channel constants of Cohen et al.'s
    /// randomized-smoothing code, mean (0.4914, 0.4822, 0.4465), std (0.2023, 0.1994, 0.2010).
    public static func cifar10(directory: URL, split: Split) throws -> ImageDataset {
        let names = split == .train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
        let paths = try names.map { try findFile($0, in: directory) }
        return try cifar10(batchFiles: paths, name: "cifar10-\(split.rawValue)")
    }

    /// CIFAR-10 from explicit batch files, concatenated in order.
    ///
    /// Throws when a file is empty, its size is not a multiple of 3073, or a label is ≥ 10.
    public static func cifar10(batchFiles: [String], name: String = "cifar10") throws -> ImageDataset {
        precondition(!batchFiles.isEmpty, "no CIFAR-10 batch files given")
        var pixels: [Float] = []
        var labels: [Int] = []
        for path in batchFiles {
            let bytes = try FileBytes.read(path: path)
            guard !bytes.isEmpty, bytes.count % cifar10RecordSize == 0 else {
                let records = bytes.count / cifar10RecordSize
                throw DatasetsError.sizeMismatch(
                    path: path, expectedBytes: max(1, records) * cifar10RecordSize,
                    actualBytes: bytes.count)
            }
            labels += try checkedLabels(bytes, path: path, classCount: 10, stride: cifar10RecordSize)
            pixels += channelsLast(bytes)
        }
        return ImageDataset(
            name: name, images: Tensor(shape: [labels.count, 32, 32, 3], scalars: pixels),
            labels: labels, classNames: cifar10ClassNames,
            mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.2010])
    }

    /// Channel-major records to channels-last floats in `[0, 1]`.
    private static func channelsLast(_ bytes: [UInt8]) -> [Float] {
        let records = bytes.count / cifar10RecordSize
        var out = [Float](repeating: 0, count: records * 3072)
        bytes.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for n in 0..<records {
                    let base = n * cifar10RecordSize + 1
                    for c in 0..<3 {
                        for p in 0..<1024 {  // p = y·32 + x
                            dst[(n * 1024 + p) * 3 + c] = Float(src[base + c * 1024 + p]) / 255
                        }
                    }
                }
            }
        }
        return out
    }
}
