import Foundation
import TensorCore
import Testing

@testable import Datasets

@Suite("SplitMix64, stratified splits and batching")
struct SplitAndBatchTests {
    @Test("SplitMix64 matches the reference sequence (seed 1234567) and a Python twin's Fisher–Yates")
    func splitMix() {
        var rng = SplitMix64(seed: 1_234_567)
        #expect(
            (0..<5).map { _ in rng.next() } == [
                6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423,
                4_593_380_528_125_082_431, 16_408_922_859_458_223_821,
            ])
        // Generated once by a Python transcription of the same algorithm (Lemire bound, descending Fisher–Yates).
        var r7 = SplitMix64(seed: 7)
        #expect(r7.permutation(10) == [9, 5, 8, 6, 1, 2, 4, 7, 0, 3])
    }

    @Test("nextInt(below:) is in range and roughly uniform")
    func bounded() {
        var rng = SplitMix64(seed: 99)
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<70_000 { counts[rng.nextInt(below: 7)] += 1 }
        #expect(counts.allSatisfy { abs($0 - 10_000) < 400 })  // ±4σ, σ ≈ 93
    }

    func labels() -> [Int] {
        // Classes of sizes 50, 31, 7, 1 interleaved.
        var y: [Int] = []
        for i in 0..<89 { y.append(i < 50 ? 0 : i < 81 ? 1 : i < 88 ? 2 : 3) }
        var rng = SplitMix64(seed: 3)
        rng.shuffle(&y)
        return y
    }

    @Test("stratified split partitions all indices with per-class proportions")
    func stratified() throws {
        let y = labels()
        let s = try StratifiedSplit(labels: y, train: 0.7, validation: 0.1, test: 0.2, seed: 42)
        let all = (s.train + s.validation + s.test).sorted()
        #expect(all == Array(0..<y.count))
        func per(_ part: [Int], _ c: Int) -> Int { part.filter { y[$0] == c }.count }
        // round(n·0.2), round(n·0.1) per class: 50 → 10/5, 31 → 6/3, 7 → 1/1, 1 → 0/0.
        #expect([0, 1, 2, 3].map { per(s.test, $0) } == [10, 6, 1, 0])
        #expect([0, 1, 2, 3].map { per(s.validation, $0) } == [5, 3, 1, 0])
        #expect([0, 1, 2, 3].map { per(s.train, $0) } == [35, 22, 5, 1])
        #expect(s.train == s.train.sorted())
    }

    @Test("splits are deterministic for a seed and differ between seeds")
    func deterministic() throws {
        let y = labels()
        let a = try StratifiedSplit(labels: y, train: 0.8, validation: 0.1, test: 0.1, seed: 1)
        let b = try StratifiedSplit(labels: y, train: 0.8, validation: 0.1, test: 0.1, seed: 1)
        let c = try StratifiedSplit(labels: y, train: 0.8, validation: 0.1, test: 0.1, seed: 2)
        #expect(a == b)
        #expect(a.test != c.test)
    }

    @Test("bad fractions are rejected")
    func fractions() {
        #expect(
            datasetsError { _ = try StratifiedSplit(labels: [0, 1], train: 0.8, validation: 0.1, test: 0.2, seed: 0) }
                == .invalidFractions(train: 0.8, validation: 0.1, test: 0.2))
        #expect(
            datasetsError { _ = try StratifiedSplit(labels: [0, 1], train: 1.2, validation: -0.2, test: 0, seed: 0) }
                == .invalidFractions(train: 1.2, validation: -0.2, test: 0))
    }

    @Test("split files round-trip, are tied to their labels, and corrupt files are rejected with line numbers")
    func splitFile() throws {
        let dir = try TempDirectory()
        let y = labels()
        let s = try StratifiedSplit(labels: y, train: 0.6, validation: 0.2, test: 0.2, seed: 0xDEAD_BEEF_0000_0001)
        let path = dir.url.appendingPathComponent("split.txt").path
        try s.write(to: path)
        let back = try StratifiedSplit.read(from: path)
        #expect(back == s)
        try back.check(labels: y, path: path)
        var other = y
        other.swapAt(other.firstIndex(of: 3)!, other.firstIndex(of: 0)!)
        guard case .badSplitFile? = datasetsError({ try back.check(labels: other, path: path) }) else {
            Issue.record("a split was accepted for different labels"); return
        }
        #expect(datasetsError { try back.check(labels: Array(y.dropLast()), path: path) } != nil)

        let text = s.fileText
        var lines = text.split(separator: "\n").map(String.init)
        func expectBad(_ lines: [String], line: Int, _ fragment: String) throws {
            let p = try dir.write("bad.txt", Array((lines.joined(separator: "\n") + "\n").utf8))
            let error = datasetsError { _ = try StratifiedSplit.read(from: p) }
            guard case .badSplitFile(let ep, let el, let reason)? = error else {
                Issue.record("expected badSplitFile for '\(fragment)', got \(String(describing: error))"); return
            }
            #expect(ep == p && el == line && reason.contains(fragment), "\(reason)")
        }
        var v = lines; v[0] = "equicert-split 2"; try expectBad(v, line: 1, "version")
        v = lines; v[2] = "count x"; try expectBad(v, line: 3, "count")
        v = lines; v[4] += " 1000"; try expectBad(v, line: 5, "1000")
        v = lines; v[6] += " \(s.train[0])"; try expectBad(v, line: 0, "twice")
        v = lines; v[5] = "validation"; try expectBad(v, line: 0, "in no part")
        v = lines; v.swapAt(4, 5); try expectBad(v, line: 5, "'train'")
        lines.removeLast(); try expectBad(lines, line: 0, "expected 7 lines")
    }

    @Test("batcher: fixed size, partial last batch kept or dropped, reshuffled per epoch, deterministic")
    func batcher() {
        let pool = Array(100..<123)  // 23 items
        let keep = Batcher(pool: pool, batchSize: 5, dropLast: false, seed: 9)
        let drop = Batcher(pool: pool, batchSize: 5, dropLast: true, seed: 9)
        #expect(keep.batchesPerEpoch == 5 && drop.batchesPerEpoch == 4)
        let e0 = keep.batches(epoch: 0)
        #expect(e0.map(\.count) == [5, 5, 5, 5, 3])
        #expect(e0.flatMap { $0 }.sorted() == pool)
        #expect(drop.batches(epoch: 0) == Array(e0.prefix(4)))
        #expect(keep.batches(epoch: 0) == Batcher(pool: pool, batchSize: 5, seed: 9).batches(epoch: 0))
        #expect(keep.batches(epoch: 1) != e0)
        #expect(Batcher(pool: pool, batchSize: 5, seed: 10).batches(epoch: 0) != e0)
        #expect(Batcher(pool: pool, batchSize: 5, shuffle: false).batches(epoch: 3).flatMap { $0 } == pool)
    }

    @Test("image batches gather the right images and labels")
    func imageBatches() {
        let n = 7
        let images = Tensor(shape: [n, 2, 2, 1], scalars: (0..<(n * 4)).map { Float($0) })
        let ds = ImageDataset(
            name: "toy", images: images, labels: (0..<n).map { $0 % 3 },
            classNames: ["a", "b", "c"], mean: [0], std: [1])
        let batcher = Batcher(count: n, batchSize: 3, seed: 5)
        var seen: [Int] = []
        var batches = 0
        for (x, y) in ds.batches(batcher, epoch: 2) {
            #expect(x.shape == [y.count, 2, 2, 1])
            for (row, label) in y.enumerated() {
                let original = Int(x[row, 0, 0, 0]) / 4  // the first pixel of image i is 4i
                #expect(label == original % 3)
                #expect(x[row, 1, 1, 0] == Float(original * 4 + 3))
                seen.append(original)
            }
            batches += 1
        }
        #expect(batches == 3)
        #expect(seen == batcher.batches(epoch: 2).flatMap { $0 })
        #expect(ds.subset([6, 1]).labels == [0, 1])
        #expect(ds.classHistogram == [3, 2, 2])
    }
}
