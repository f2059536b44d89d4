import Foundation
// Seeded stratified train/validation/test split of a labelled data set, and its file format.
//
// File format (UTF-8 text, one record per line, indices space-separated, ascending):
//   equicert-split 1
//   seed <UInt64>
//   count <N>
//   labels-fnv1a64 <16 hex digits>      FNV-1a over the labels as little-endian Int64, ties the split to its data
//   train <i> <i> …
//   validation <i> …
//   test <i> …
import TensorCore

/// A partition of `0..<count` into train, validation and test indices with the class proportions of the whole.
///
/// For each class c with n_c examples (classes in ascending order, one SplitMix64 stream seeded by `seed`):
/// shuffle its indices (Fisher–Yates), take n_test = round(n_c · test), n_val = round(n_c · validation)
/// (clamped so they fit), the rest is train. Each part is sorted ascending. Deterministic for a seed on every platform.
public struct StratifiedSplit: Sendable, Equatable {
    /// The seed the split was drawn with.
    public var seed: UInt64
    /// Number of examples of the data set the split partitions.
    public var count: Int
    /// FNV-1a 64 hash of the labels, so a split is never applied to another data set by mistake.
    public var labelsFingerprint: UInt64
    /// Training indices, ascending.
    public var train: [Int]
    /// Validation indices, ascending.
    public var validation: [Int]
    /// Test indices, ascending.
    public var test: [Int]

    /// Draws a stratified split of `labels` (any non-negative Ints) with the given fractions.
    ///
    /// Throws `DatasetsError.invalidFractions` unless all fractions are ≥ 0 and sum to 1 (±1e-9).
    public init(labels: [Int], train: Double, validation: Double, test: Double, seed: UInt64) throws {
        guard train >= 0, validation >= 0, test >= 0, abs(train + validation + test - 1) <= 1e-9 else {
            throw DatasetsError.invalidFractions(train: train, validation: validation, test: test)
        }
        precondition(labels.allSatisfy { $0 >= 0 }, "labels must be non-negative")
        var byClass: [Int: [Int]] = [:]
        for (i, y) in labels.enumerated() { byClass[y, default: []].append(i) }
        var rng = SplitMix64(seed: seed)
        var parts: ([Int], [Int], [Int]) = ([], [], [])
        for c in byClass.keys.sorted() {
            var members = byClass[c]!
            rng.shuffle(&members)
            let n = members.count
            let nTest = min(n, Int((Double(n) * test).rounded()))
            let nValidation = min(n - nTest, Int((Double(n) * validation).rounded()))
            parts.2 += members[0..<nTest]
            parts.1 += members[nTest..<(nTest + nValidation)]
            parts.0 += members[(nTest + nValidation)...]
        }
        self.seed = seed
        self.count = labels.count
        self.labelsFingerprint = StratifiedSplit.fingerprint(labels)
        self.train = parts.0.sorted()
        self.validation = parts.1.sorted()
        self.test = parts.2.sorted()
    }

    /// A split from explicit parts (checked like a file: disjoint, in range, covering `0..<count`).
    public init(
        seed: UInt64, count: Int, labelsFingerprint: UInt64,
        train: [Int], validation: [Int], test: [Int]
    ) throws {
        self.seed = seed
        self.count = count
        self.labelsFingerprint = labelsFingerprint
        self.train = train.sorted()
        self.validation = validation.sorted()
        self.test = test.sorted()
        if let problem = coverageProblem() { throw DatasetsError.badSplitFile(path: "<memory>", line: 0, reason: problem) }
    }

    /// FNV-1a 64 over each label as 8 little-endian bytes.
    public static func fingerprint(_ labels: [Int]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for y in labels {
            var v = UInt64(bitPattern: Int64(y))
            for _ in 0..<8 {
                h = (h ^ (v & 0xff)) &* 0x0000_0100_0000_01B3
                v >>= 8
            }
        }
        return h
    }

    /// Throws `DatasetsError.badSplitFile` (naming `path`) unless this split was made for exactly these labels.
    public func check(labels: [Int], path: String) throws {
        guard labels.count == count else {
            throw DatasetsError.badSplitFile(
                path: path, line: 0,
                reason: "split is for \(count) examples, data set has \(labels.count)")
        }
        guard StratifiedSplit.fingerprint(labels) == labelsFingerprint else {
            throw DatasetsError.badSplitFile(path: path, line: 0, reason: "labels fingerprint does not match the data set")
        }
    }

    /// The file text (see the format at the top of this file).
    public var fileText: String {
        var s = "equicert-split 1\nseed \(seed)\ncount \(count)\n"
        let hex = String(labelsFingerprint, radix: 16)
        s += "labels-fnv1a64 " + String(repeating: "0", count: 16 - hex.count) + hex + "\n"
        for (key, part) in [("train", train), ("validation", validation), ("test", test)] {
            s += ([key] + part.map(String.init)).joined(separator: " ") + "\n"
        }
        return s
    }

    /// Writes the split to `path` atomically (temporary file, then rename).
    public func write(to path: String) throws {
        do {
            try Data(fileText.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw DatasetsError.writeFailed(path: path, reason: "\(error)")
        }
    }

    /// Reads a split file; throws `DatasetsError.badSplitFile` with the line number on any malformed record,
    /// unknown version, out-of-range or duplicate index, or incomplete coverage of `0..<count`.
    public static func read(from path: String) throws -> StratifiedSplit {
        guard FileManager.default.fileExists(atPath: path) else {
            throw DatasetsError.fileNotFound(path: path, tried: [path])
        }
        guard let data = FileManager.default.contents(atPath: path),
            let text = String(validating: [UInt8](data), as: UTF8.self)
        else {
            throw DatasetsError.badSplitFile(path: path, line: 0, reason: "unreadable or not UTF-8")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        let keys = ["equicert-split", "seed", "count", "labels-fnv1a64", "train", "validation", "test"]
        guard lines.count == keys.count else {
            throw DatasetsError.badSplitFile(
                path: path, line: 0,
                reason: "expected \(keys.count) lines, found \(lines.count)")
        }
        var values: [[Substring]] = []
        for (i, (line, key)) in zip(lines, keys).enumerated() {
            let words = line.split(separator: " ")
            guard words.first.map(String.init) == key else {
                throw DatasetsError.badSplitFile(path: path, line: i + 1, reason: "expected a '\(key)' record")
            }
            values.append(Array(words.dropFirst()))
        }
        func single(_ line: Int) throws -> Substring {
            guard values[line - 1].count == 1 else {
                throw DatasetsError.badSplitFile(path: path, line: line, reason: "expected one value")
            }
            return values[line - 1][0]
        }
        guard try single(1) == "1" else {
            throw DatasetsError.badSplitFile(path: path, line: 1, reason: "unsupported version \(try single(1))")
        }
        guard let seed = UInt64(try single(2)) else {
            throw DatasetsError.badSplitFile(path: path, line: 2, reason: "seed is not a UInt64")
        }
        guard let count = Int(try single(3)), count >= 0 else {
            throw DatasetsError.badSplitFile(path: path, line: 3, reason: "count is not a non-negative integer")
        }
        guard let fingerprint = UInt64(try single(4), radix: 16) else {
            throw DatasetsError.badSplitFile(path: path, line: 4, reason: "fingerprint is not hexadecimal")
        }
        var parts: [[Int]] = []
        for line in 5...7 {
            var part: [Int] = []
            for word in values[line - 1] {
                guard let i = Int(word), i >= 0, i < count else {
                    throw DatasetsError.badSplitFile(
                        path: path, line: line,
                        reason: "index '\(word)' is not in 0..<\(count)")
                }
                part.append(i)
            }
            parts.append(part)
        }
        do {
            return try StratifiedSplit(
                seed: seed, count: count, labelsFingerprint: fingerprint,
                train: parts[0], validation: parts[1], test: parts[2])
        } catch DatasetsError.badSplitFile(_, _, let reason) {
            throw DatasetsError.badSplitFile(path: path, line: 0, reason: reason)
        }
    }

    /// Why the parts are not a partition of `0..<count`, or nil.
    private func coverageProblem() -> String? {
        var seen = [Bool](repeating: false, count: count)
        for part in [train, validation, test] {
            for i in part {
                guard i >= 0 && i < count else { return "index \(i) is not in 0..<\(count)" }
                guard !seen[i] else { return "index \(i) appears twice" }
                seen[i] = true
            }
        }
        if let missing = seen.firstIndex(of: false) { return "index \(missing) is in no part" }
        return nil
    }
}
