import Certification
import Foundation
import Reports
import TensorCore

/// The JSON manifest written beside a certification report (`x.tsv` → `x.json`): what was run, how, and what it
/// cost. Written atomically at the start (status "running") and at the end ("complete").
public struct RunManifest: Codable, Sendable {
    public struct ImageCost: Codable, Sendable, Equatable {
        public var index: Int
        public var sampleEvaluations: Int64
        public var divergedSamples: Int64
        public var computeSeconds: Double
        public var agreement: Double
        public var pALower: Double
        /// ĉA from selection, and the estimation counts (`SampleCounts.words`: counts, checks, totals): enough to
        /// recompute the radius with another estimator or α (`equicert report radius`) without re-running.
        /// Absent in manifests of older runs.
        public var selectedClass: Int?
        public var estimationCounts: [Int64]?
        public init(index: Int, sampleEvaluations: Int64, divergedSamples: Int64, computeSeconds: Double,
                    agreement: Double, pALower: Double, selectedClass: Int? = nil, estimationCounts: [Int64]? = nil) {
            self.index = index; self.sampleEvaluations = sampleEvaluations; self.divergedSamples = divergedSamples
            self.computeSeconds = computeSeconds; self.agreement = agreement; self.pALower = pALower
            self.selectedClass = selectedClass; self.estimationCounts = estimationCounts
        }
    }
    public struct RankFigures: Codable, Sendable {
        public var rank: Int, units: Int
        public var busySeconds: Double, waitSeconds: Double
        public init(rank: Int, units: Int, busySeconds: Double, waitSeconds: Double) {
            self.rank = rank; self.units = units; self.busySeconds = busySeconds; self.waitSeconds = waitSeconds
        }
    }
    public var tool = "equicert"
    public var version: String
    /// OpenBLAS's kernel family in this run (nil in manifests written before it was recorded).
    public var blasCore: String? = BLAS.coreName
    public var status: String
    public var command: String
    public var model: String
    public var modelMetadata: [String: String]
    public var data: String
    public var split: String
    public var skip: Int, max: Int
    public var shard: String?
    public var configuration: SmoothingConfiguration
    /// Named explicitly: `paper` or `reference-code` (SRS), `cohen` (standard).
    public var radiusEstimator: String
    public var worldSize: Int
    public var wallSeconds: Double
    public var imagesCertified: Int
    public var samplesPerSecond: Double
    public var ranks: [RankFigures]
    public var busySecondsMin: Double, busySecondsMedian: Double, busySecondsMax: Double
    public var rootAggregationSeconds: Double
    public var images: [ImageCost]

    public init(version: String, status: String, command: String, model: String, modelMetadata: [String: String],
                data: String, split: String, skip: Int, max: Int, shard: String?, configuration: SmoothingConfiguration,
                radiusEstimator: String, worldSize: Int, wallSeconds: Double, imagesCertified: Int, samplesPerSecond: Double,
                ranks: [RankFigures], busySecondsMin: Double, busySecondsMedian: Double, busySecondsMax: Double,
                rootAggregationSeconds: Double, images: [ImageCost]) {
        self.version = version; self.status = status; self.command = command; self.model = model
        self.modelMetadata = modelMetadata; self.data = data; self.split = split; self.skip = skip; self.max = max
        self.shard = shard; self.configuration = configuration; self.radiusEstimator = radiusEstimator
        self.worldSize = worldSize; self.wallSeconds = wallSeconds; self.imagesCertified = imagesCertified
        self.samplesPerSecond = samplesPerSecond; self.ranks = ranks; self.busySecondsMin = busySecondsMin
        self.busySecondsMedian = busySecondsMedian; self.busySecondsMax = busySecondsMax
        self.rootAggregationSeconds = rootAggregationSeconds; self.images = images
    }

    public static func path(forReport report: String) -> String {
        report.hasSuffix(".tsv") ? String(report.dropLast(4)) + ".json" : report + ".json"
    }

    public func write(to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try enc.encode(self)
        let url = URL(fileURLWithPath: path)
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            try data.write(to: tmp)
            // rename(2) replaces the destination atomically (FileManager.replaceItemAt is unreliable on Linux).
            guard rename(tmp.path, path) == 0 else {
                throw CoordinatorError.output(path: path, reason: String(cString: strerror(errno)))
            }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw CoordinatorError.output(path: path, reason: "\(error)")
        }
    }

    public static func read(_ path: String) throws -> RunManifest {
        do { return try JSONDecoder().decode(RunManifest.self, from: Data(contentsOf: URL(fileURLWithPath: path))) }
        catch { throw CoordinatorError.checkpoint(path: path, reason: "manifest unreadable: \(error)") }
    }
}

/// The per-image costs of a running certification, one JSON line per image (`x.tsv` → `x.images.jsonl`),
/// appended and fsync'ed as each image finishes — before its report row, so every row of the report has its
/// entry. The manifest is rewritten only at the start and the end of a run; this log is what lets `--resume`
/// keep the counts (and so `report radius`) of the images certified before an interruption. It is removed once
/// the complete manifest, which holds every entry, is written.
public final class ImageCostLog {
    public let path: String
    /// Entries found when opening with `resume` (last entry per image index, sorted by index).
    public let entries: [RunManifest.ImageCost]
    private let file: AppendOnlyLineFile

    /// `x.tsv` → `x.images.jsonl` (beside the manifest `x.json`).
    public static func path(forReport report: String) -> String {
        String(RunManifest.path(forReport: report).dropLast(".json".count)) + ".images.jsonl"
    }

    /// Opens the log; with `resume`, keeps its complete lines (a truncated last line is cut off), else starts empty.
    public init(path: String, resume: Bool) throws {
        self.path = path
        var byIndex: [Int: RunManifest.ImageCost] = [:]
        file = try AppendOnlyLineFile(path: path, mode: resume ? .resume : .replace) { kept in
            let decoder = JSONDecoder()
            for line in kept.split(separator: "\n") where !line.isEmpty {
                guard let cost = try? decoder.decode(RunManifest.ImageCost.self, from: Data(line.utf8)) else {
                    throw CoordinatorError.checkpoint(path: path, reason: "image log has an unreadable line")
                }
                byIndex[cost.index] = cost
            }
        }
        entries = byIndex.values.sorted { $0.index < $1.index }
    }

    /// Appends one entry (one JSON line, written whole, then fsync; a failed write leaves the log as it was).
    public func append(_ cost: RunManifest.ImageCost) throws {
        let line = String(decoding: try JSONEncoder().encode(cost), as: UTF8.self)
        try file.append(line: line)
    }

    /// Closes and deletes the log (its entries are in the complete manifest).
    public func remove() {
        file.close()
        try? FileManager.default.removeItem(atPath: path)
    }
}
