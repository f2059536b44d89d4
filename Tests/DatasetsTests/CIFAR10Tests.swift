import Foundation
import Testing

@testable import Datasets

@Suite("CIFAR-10 binary reader")
struct CIFAR10Tests {
    /// A record with label `label` whose byte for channel c, row y, column x is `(c·50 + y·5 + x + seed) mod 256`.
    func record(label: UInt8, seed: Int) -> [UInt8] {
        var r = [label]
        for c in 0..<3 { for y in 0..<32 { for x in 0..<32 { r.append(UInt8((c * 50 + y * 5 + x + seed) % 256)) } } }
        return r
    }

    @Test("channel-major records become channels-last [N, 32, 32, 3] across batch files")
    func layout() throws {
        let dir = try TempDirectory()
        let a = try dir.write("data_batch_1.bin", record(label: 7, seed: 0) + record(label: 0, seed: 11))
        let b = try dir.writeGzip("test_batch.bin.gz", record(label: 9, seed: 100))
        let ds = try ImageDataset.cifar10(batchFiles: [a, b])
        #expect(ds.images.shape == [3, 32, 32, 3])
        #expect(ds.labels == [7, 0, 9])
        #expect(ds.classNames[7] == "horse")
        #expect(ds.mean.count == 3 && ds.std.count == 3)
        for (n, seed) in [(0, 0), (1, 11), (2, 100)] {
            for (c, y, x) in [(0, 0, 0), (1, 3, 17), (2, 31, 31), (2, 5, 0)] {
                #expect(ds.images[n, y, x, c] == Float((c * 50 + y * 5 + x + seed) % 256) / 255)
            }
        }
        let test = try ImageDataset.cifar10(directory: dir.url, split: .test)
        #expect(test.labels == [9] && test.name == "cifar10-test")
    }

    @Test("train split needs all five batches")
    func trainNeedsFiveBatches() throws {
        let dir = try TempDirectory()
        for k in 1...4 { try dir.write("data_batch_\(k).bin", record(label: UInt8(k), seed: k)) }
        guard
            case .fileNotFound(let path, _)? = datasetsError({
                _ = try ImageDataset.cifar10(directory: dir.url, split: .train)
            })
        else { Issue.record("missing data_batch_5.bin was not reported"); return }
        #expect(path.hasSuffix("data_batch_5.bin"))
        try dir.write("data_batch_5.bin", record(label: 5, seed: 5))
        #expect(try ImageDataset.cifar10(directory: dir.url, split: .train).labels == [1, 2, 3, 4, 5])
    }

    @Test("sizes that are not a positive multiple of 3073 and labels ≥ 10 are errors")
    func corrupt() throws {
        let dir = try TempDirectory()
        let good = record(label: 1, seed: 0)
        let short = try dir.write("short.bin", good + Array(good.dropLast()))
        let empty = try dir.write("empty.bin", [])
        let badLabel = try dir.write("label.bin", good + record(label: 10, seed: 3))
        #expect(
            datasetsError { _ = try ImageDataset.cifar10(batchFiles: [short]) }
                == .sizeMismatch(path: short, expectedBytes: 3073, actualBytes: 6145))
        #expect(
            datasetsError { _ = try ImageDataset.cifar10(batchFiles: [empty]) }
                == .sizeMismatch(path: empty, expectedBytes: 3073, actualBytes: 0))
        #expect(
            datasetsError { _ = try ImageDataset.cifar10(batchFiles: [badLabel]) }
                == .labelOutOfRange(path: badLabel, index: 1, label: 10, classCount: 10))
    }
}
