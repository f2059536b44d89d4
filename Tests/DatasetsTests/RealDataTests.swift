// Tests on the real data sets. They #require the data (../shared/data, $EQUICERT_DATA, or ./data after
// Scripts/setup-data), so missing data fails these tests instead of letting them pass silently.
import Foundation
import Testing

@testable import Datasets

@Suite("Real MNIST, Fashion-MNIST and text corpora", .serialized)
struct RealDataTests {
    /// Mean, standard deviation, minimum and maximum of all pixels (one pass).
    func moments(_ ds: ImageDataset) -> (mean: Double, std: Double, min: Float, max: Float) {
        ds.images.withUnsafeBufferPointer { p in
            var s = 0.0, s2 = 0.0
            var lo = Float.infinity, hi = -Float.infinity
            for v in p {
                s += Double(v); s2 += Double(v) * Double(v)
                lo = Swift.min(lo, v); hi = Swift.max(hi, v)
            }
            let m = s / Double(p.count)
            return (m, (s2 / Double(p.count) - m * m).squareRoot(), lo, hi)
        }
    }

    /// Checks shape, label histogram and pixel range; returns the pixel mean and std.
    @discardableResult
    func check(_ ds: ImageDataset, count: Int, histogram: [Int]?) -> (mean: Double, std: Double) {
        #expect(ds.images.shape == [count, 28, 28, 1])
        #expect(ds.labels.count == count)
        #expect(ds.classHistogram.reduce(0, +) == count)
        if let histogram { #expect(ds.classHistogram == histogram) }
        let m = moments(ds)
        #expect(m.min == 0 && m.max == 1, "pixel range [\(m.min), \(m.max)]")
        return (m.mean, m.std)
    }

    @Test("MNIST: 60,000 / 10,000 images, the known class counts, and the stored normalisation matches the data")
    func mnist() throws {
        let dir = try #require(
            realDataDirectory("mnist", requiring: DataLocator.idxFiles),
            "MNIST not found: run Scripts/setup-data")
        let train = try ImageDataset.mnist(directory: dir, split: .train)
        let (m, s) = check(
            train, count: 60_000,
            histogram: [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
        #expect(abs(m - Double(train.mean[0])) < 1e-3 && abs(s - Double(train.std[0])) < 1e-3, "mean \(m) std \(s)")
        let test = try ImageDataset.mnist(directory: dir, split: .test)
        check(test, count: 10_000, histogram: [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    }

    @Test("Fashion-MNIST: balanced classes and matching normalisation")
    func fashion() throws {
        let dir = try #require(
            realDataDirectory("fashion-mnist", requiring: DataLocator.idxFiles),
            "Fashion-MNIST not found: run Scripts/setup-data")
        let train = try ImageDataset.fashionMNIST(directory: dir, split: .train)
        let (m, s) = check(train, count: 60_000, histogram: Array(repeating: 6000, count: 10))
        #expect(abs(m - Double(train.mean[0])) < 1e-3 && abs(s - Double(train.std[0])) < 1e-3, "mean \(m) std \(s)")
        let test = try ImageDataset.fashionMNIST(directory: dir, split: .test)
        check(test, count: 10_000, histogram: Array(repeating: 1000, count: 10))
    }

    @Test("BBC News and Rotten Tomatoes corpora have the documented class counts")
    func text() throws {
        let dir = try #require(
            realDataDirectory("text", requiring: ["bbc-news.tsv", "rt-snippets.tsv"]),
            "text corpora not found: run Scripts/setup-data")
        let bbc = try TextDataset.bbcNews(directory: dir)
        #expect(bbc.count == 2225)
        #expect(bbc.classHistogram == [510, 386, 417, 511, 401])
        #expect(bbc.texts[0].hasPrefix("Ad sales boost Time Warner profit"))
        let rt = try TextDataset.rottenTomatoes(directory: dir)
        #expect(rt.classHistogram == [5405, 7403])
        let split = try StratifiedSplit(labels: bbc.labels, train: 0.8, validation: 0.1, test: 0.1, seed: 0)
        #expect(split.test.count == [51, 39, 42, 51, 40].reduce(0, +))
    }
}
