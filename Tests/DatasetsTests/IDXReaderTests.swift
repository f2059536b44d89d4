import Foundation
import Testing

@testable import Datasets

@Suite("IDX reader and MNIST-style loaders")
struct IDXReaderTests {
    @Test("raw and gzip IDX files read back identically", arguments: [false, true])
    func roundTrip(gzip: Bool) throws {
        let dir = try TempDirectory()
        let (images, pixels) = imageIDX(n: 5, rows: 28, cols: 28)
        let labels: [UInt8] = [3, 0, 9, 1, 3]
        let write = gzip ? dir.writeGzip : dir.write
        let suffix = gzip ? ".gz" : ""
        _ = try write("train-images-idx3-ubyte" + suffix, images)
        _ = try write("train-labels-idx1-ubyte" + suffix, labelIDX(labels))
        #expect(try FileBytes.isGzip(path: dir.url.appendingPathComponent("train-images-idx3-ubyte" + suffix).path) == gzip)

        let ds = try ImageDataset.mnist(directory: dir.url, split: .train)
        #expect(ds.images.shape == [5, 28, 28, 1])
        #expect(ds.labels == [3, 0, 9, 1, 3])
        #expect(ds.classCount == 10)
        #expect(ds.mean == [0.1307] && ds.std == [0.3081])
        #expect(ds.name == "mnist-train")
        #expect(ds.images[2, 4, 5, 0] == Float((2 * 7 + 4 * 3 + 5) % 256) / 255)
        #expect(ds.images.scalars == pixels.map { Float($0) / 255 })
    }

    @Test("a .gz file is preferred and a missing pair names both candidates")
    func missingFiles() throws {
        let dir = try TempDirectory()
        let error = datasetsError { _ = try ImageDataset.fashionMNIST(directory: dir.url, split: .test) }
        guard case .fileNotFound(_, let tried)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(tried.contains { $0.hasSuffix("t10k-images-idx3-ubyte.gz") })
        #expect(tried.contains { $0.hasSuffix("t10k-images-idx3-ubyte") })
    }

    @Test("bad magic numbers are rejected, naming the file", arguments: [false, true])
    func badMagic(gzip: Bool) throws {
        let dir = try TempDirectory()
        let write = gzip ? dir.writeGzip : dir.write
        // A label file given as an image file, and a uint16 (0x0B) image file.
        let p1 = try write("a", labelIDX([1, 2]))
        let p2 = try write("b", idxBytes(magic: 0x0B03, dims: [1, 1, 1], payload: [0, 0]))
        let p3 = try write("c", idxBytes(magic: 0x0100_0803, dims: [1, 1, 1], payload: [0]))
        #expect(
            datasetsError { _ = try IDXReader.readImages(path: p1) }
                == .badMagic(path: p1, expected: 0x803, found: 0x801))
        #expect(
            datasetsError { _ = try IDXReader.readImages(path: p2) }
                == .badMagic(path: p2, expected: 0x803, found: 0x0B03))
        #expect(
            datasetsError { _ = try IDXReader.readImages(path: p3) }
                == .badMagic(path: p3, expected: 0x803, found: 0x0100_0803))
        let message = "\(DatasetsError.badMagic(path: p1, expected: 0x803, found: 0x801))"
        #expect(message.contains(p1) && message.contains("0x00000801") && message.contains("0x00000803"))
    }

    @Test("short files, zero and overflowing dimensions, and wrong payload sizes are errors", arguments: [false, true])
    func badSizes(gzip: Bool) throws {
        let dir = try TempDirectory()
        let write = gzip ? dir.writeGzip : dir.write
        let empty = try write("empty", [])
        let shortHeader = try write("short", bigEndian(0x803) + bigEndian(2))
        let zero = try write("zero", idxBytes(magic: 0x803, dims: [0, 28, 28], payload: []))
        let overflow = try write("overflow", idxBytes(magic: 0x803, dims: [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF], payload: [1]))
        let (good, _) = imageIDX(n: 3, rows: 4, cols: 4)
        let truncated = try write("truncated", Array(good.dropLast(5)))
        let tooLong = try write("long", good + [7])

        for path in [empty, shortHeader, zero, overflow] {
            guard case .badHeader(let p, _)? = datasetsError({ _ = try IDXReader.readImages(path: path) }) else {
                Issue.record("\(path) was not rejected as a bad header"); continue
            }
            #expect(p == path)
        }
        #expect(
            datasetsError { _ = try IDXReader.readImages(path: truncated) }
                == .sizeMismatch(path: truncated, expectedBytes: 48, actualBytes: 43))
        #expect(
            datasetsError { _ = try IDXReader.readImages(path: tooLong) }
                == .sizeMismatch(path: tooLong, expectedBytes: 48, actualBytes: 49))
    }

    @Test("a truncated or damaged gzip stream is an error, never a short read")
    func corruptGzip() throws {
        let dir = try TempDirectory()
        let (images, _) = imageIDX(n: 40, rows: 28, cols: 28)
        let whole = try dir.writeGzip("whole", images)
        let compressed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: whole)))
        #expect(try IDXReader.readImages(path: whole).dimensions == [40, 28, 28])

        // Cut the trailer (CRC + length), cut in the middle of the deflate data, keep only the gzip header.
        for (name, keep) in [("no-trailer", compressed.count - 8), ("half", compressed.count / 2), ("header", 12)] {
            let path = try dir.write(name, Array(compressed.prefix(keep)))
            let error = datasetsError { _ = try IDXReader.readImages(path: path) }
            guard case .corruptGzip(let p, let reason)? = error else {
                Issue.record("\(name): expected corruptGzip, got \(String(describing: error))"); continue
            }
            #expect(p == path)
            #expect(!reason.isEmpty)
        }
        // Flip bits of the stored CRC-32: the data inflate fine but the integrity check fails.
        var badCRC = compressed
        badCRC[badCRC.count - 8] ^= 0xff
        let crcPath = try dir.write("bad-crc", badCRC)
        guard case .corruptGzip? = datasetsError({ _ = try IDXReader.readImages(path: crcPath) }) else {
            Issue.record("a wrong CRC was not detected"); return
        }
    }

    @Test("image/label count mismatch and out-of-range labels are reported with both files")
    func labelChecks() throws {
        let dir = try TempDirectory()
        let (images, _) = imageIDX(n: 4, rows: 28, cols: 28)
        let imagesPath = try dir.write("train-images-idx3-ubyte", images)
        let labelsPath = try dir.writeGzip("train-labels-idx1-ubyte.gz", labelIDX([1, 2, 3]))
        #expect(
            datasetsError { _ = try ImageDataset.mnist(directory: dir.url, split: .train) }
                == .countMismatch(imagesPath: imagesPath, images: 4, labelsPath: labelsPath, labels: 3))

        try dir.writeGzip("train-labels-idx1-ubyte.gz", labelIDX([1, 2, 10, 3]))
        #expect(
            datasetsError { _ = try ImageDataset.mnist(directory: dir.url, split: .train) }
                == .labelOutOfRange(path: labelsPath, index: 2, label: 10, classCount: 10))
    }

    @Test("MNIST loaders insist on 28×28 images")
    func imageSize() throws {
        let dir = try TempDirectory()
        try dir.write("t10k-images-idx3-ubyte", imageIDX(n: 2, rows: 28, cols: 27).file)
        try dir.write("t10k-labels-idx1-ubyte", labelIDX([0, 1]))
        guard
            case .badHeader(_, let reason)? = datasetsError({
                _ = try ImageDataset.fashionMNIST(directory: dir.url, split: .test)
            })
        else { Issue.record("28×27 images were accepted"); return }
        #expect(reason.contains("28×27"))
    }
}
