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
        /// SRS: audit stages run, each stage's f-evaluations × samples and compute seconds (cumulative stages are
        /// not double-counted: stage s holds only its own positions), and the bound that gave p̲A.
        public var auditStagesRun: Int?
        public var auditStageEvaluations: [Int64]?
        public var auditStageSeconds: [Double]?
        public var auditBound: AuditBound?
        public init(
            index: Int, sampleEvaluations: Int64, divergedSamples: Int64, computeSeconds: Double,
            agreement: Double, pALower: Double, selectedClass: Int? = nil, estimationCounts: [Int64]? = nil,
            auditStagesRun: Int? = nil, auditStageEvaluations: [Int64]? = nil, auditStageSeconds: [Double]? = nil,
            auditBound: AuditBound? = nil
        ) {
            self.index = index; self.sampleEvaluations = sampleEvaluations; self.divergedSamples = divergedSamples
            self.computeSeconds = computeSeconds; self.agreement = agreement; self.pALower = pALower
            self.selectedClass = selectedClass; self.estimationCounts = estimationCounts
            self.auditStagesRun = auditStagesRun; self.auditStageEvaluations = auditStageEvaluations
            self.auditStageSeconds = auditStageSeconds; self.auditBound = auditBound
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
    /// The directory the data set was read from (nil in manifests written before it was recorded).
    public var dataDirectory: String?
    /// The checkpoint's SHA-256 (nil in older manifests, which compare the path).
    public var modelSHA256: String?
    /// Every result-affecting setting as text (`RunIdentity`), and its SHA-256; resume and merge compare them.
    public var settings: [String: String]?
    public var settingsHash: String?
    public var split: String
    public var skip: Int, max: Int
    public var shard: String?
    public var configuration: SmoothingConfiguration
    /// Named explicitly: `audit`, `paper` or `reference-code` (SRS), `cohen` (standard).
    public var radiusEstimator: String
    /// The classifier whose smoothed version is certified (`SmoothingConfiguration.baseClassifierDescription`).
    public var baseClassifier: String?
    /// Whether the radius comes with a proof under chain dependence (cohen, audit) or not (paper, reference-code).
    public var radiusIsSound: Bool?
    /// The audit's α shares (SRS with the audit radius).
    public var auditAlphaShares: AuditAlphaShares?
    /// SRS: the per-image record file (serialized classes and audited base classes; `x.records.jsonl`).
    public var records: String?
    /// Ranks of the MPI job, parked ones included.
    public var worldSize: Int
    /// Set when a host runs more ranks than it has cores (`RankParking`): the ranks that computed, those parked
    /// (count and ranks, e.g. `2–63`), and why (`host n1: 64 ranks on 2 cores`). Nil otherwise.
    public var activeRanks: Int?
    public var parkedRanks: Int?
    public var parked: String?
    public var oversubscription: String?
    public var wallSeconds: Double
    public var imagesCertified: Int
    public var samplesPerSecond: Double
    public var ranks: [RankFigures]
    public var busySecondsMin: Double, busySecondsMedian: Double, busySecondsMax: Double
    public var rootAggregationSeconds: Double
    public var images: [ImageCost]

    public init(
        version: String, status: String, command: String, model: String, modelMetadata: [String: String],
        data: String, split: String, skip: Int, max: Int, shard: String?, configuration: SmoothingConfiguration,
        radiusEstimator: String, worldSize: Int, wallSeconds: Double, imagesCertified: Int, samplesPerSecond: Double,
        ranks: [RankFigures], busySecondsMin: Double, busySecondsMedian: Double, busySecondsMax: Double,
        rootAggregationSeconds: Double, images: [ImageCost]
    ) {
        self.version = version; self.status = status; self.command = command; self.model = model
        self.modelMetadata = modelMetadata; self.data = data; self.split = split; self.skip = skip; self.max = max
        self.shard = shard; self.configuration = configuration; self.radiusEstimator = radiusEstimator
        self.worldSize = worldSize; self.wallSeconds = wallSeconds; self.imagesCertified = imagesCertified
        self.samplesPerSecond = samplesPerSecond; self.ranks = ranks; self.busySecondsMin = busySecondsMin
        self.busySecondsMedian = busySecondsMedian; self.busySecondsMax = busySecondsMax
        self.rootAggregationSeconds = rootAggregationSeconds; self.images = images
        describeRadius()
    }

    /// Sets the fields that say what the radius is about from `configuration` and `radiusEstimator`.
    public mutating func describeRadius() {
        radiusEstimator = configuration.radius.rawValue
        baseClassifier = configuration.baseClassifierDescription
        radiusIsSound = configuration.radius.isSound
        auditAlphaShares =
            configuration.radius == .audit
            ? AuditAlphaShares(alpha: configuration.alpha, plannedStages: configuration.auditStages.count) : nil
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

    /// The manifest of `report` with, for a run still in progress (or killed), the per-image entries of its
    /// images log added (`x.images.jsonl`; a torn last line is skipped).
    public static func readWithLog(forReport report: String) throws -> RunManifest {
        var m = try read(path(forReport: report))
        let log = ImageCostLog.path(forReport: report)
        if m.status != "complete", FileManager.default.fileExists(atPath: log) {
            let logged = try ImageLineLog<ImageCost>.read(log, index: \.index)
            m.images = m.images.filter { logged[$0.index] == nil } + logged.keys.sorted().map { logged[$0]! }
        }
        return m
    }

    /// The run's identity (nil for manifests written before it was recorded).
    public var identity: RunIdentity? { settings.map(RunIdentity.init(settings:)) }

    public static func read(_ path: String) throws -> RunManifest {
        do { return try JSONDecoder().decode(RunManifest.self, from: Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw CoordinatorError.checkpoint(path: path, reason: "manifest unreadable: \(error)")
        }
    }
}

/// An append-only JSON-lines log of per-image entries beside a report, one line per image, appended and fsync'ed
/// as each image finishes — before its report row, so every row of the report has its entry. On `resume` its
/// complete lines are kept (a truncated last line is cut off; the last entry of an index wins).
public final class ImageLineLog<Entry: Codable & Sendable> {
    public let path: String
    /// Entries found when opening with `resume` (last entry per image index, sorted by index).
    public let entries: [Entry]
    private let file: AppendOnlyLineFile

    public init(path: String, resume: Bool, index: @escaping (Entry) -> Int) throws {
        self.path = path
        var byIndex: [Int: Entry] = [:]
        file = try AppendOnlyLineFile(path: path, mode: resume ? .resume : .replace) { kept in
            let decoder = JSONDecoder()
            for line in kept.split(separator: "\n") where !line.isEmpty {
                guard let entry = try? decoder.decode(Entry.self, from: Data(line.utf8)) else {
                    throw CoordinatorError.checkpoint(path: path, reason: "per-image log has an unreadable line")
                }
                byIndex[index(entry)] = entry
            }
        }
        entries = byIndex.keys.sorted().map { byIndex[$0]! }
    }

    /// Appends one entry (one JSON line, written whole, then fsync; a failed write leaves the log as it was).
    /// Keys are sorted, so the same entries give the same bytes in every process (a Codable struct's keys
    /// otherwise come out in a per-process hash order, and logs of equal runs would differ byte for byte).
    public func append(_ entry: Entry) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try file.append(line: String(decoding: try encoder.encode(entry), as: UTF8.self))
    }

    public func close() { file.close() }

    /// Closes and deletes the log (when its entries are kept elsewhere).
    public func remove() {
        file.close()
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Reads a log's entries (last per index) without opening it for writing.
    public static func read(_ path: String, index: (Entry) -> Int) throws -> [Int: Entry] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CoordinatorError.checkpoint(path: path, reason: "missing or unreadable")
        }
        var byIndex: [Int: Entry] = [:]
        let decoder = JSONDecoder()
        for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            // A torn last line (a killed run) is skipped, as on resume.
            guard let entry = try? decoder.decode(Entry.self, from: Data(line)) else { continue }
            byIndex[index(entry)] = entry
        }
        return byIndex
    }
}

/// The per-image costs of a running certification (`x.tsv` → `x.images.jsonl`). The manifest is rewritten only at
/// the start and the end of a run; this log is what lets `--resume` keep the counts (and so `report radius`) of
/// the images certified before an interruption. It is removed once the complete manifest, which holds every entry,
/// is written.
public enum ImageCostLog {
    public static func path(forReport report: String) -> String {
        String(RunManifest.path(forReport: report).dropLast(".json".count)) + ".images.jsonl"
    }
    public static func open(path: String, resume: Bool) throws -> ImageLineLog<RunManifest.ImageCost> {
        try ImageLineLog(path: path, resume: resume, index: \.index)
    }
}

/// SRS: one image's `SerializedRecord` as kept on disk (`x.tsv` → `x.records.jsonl`, kept after the run): ĉA, the
/// serialized class of each estimation sample (chain-major) and the audited base classes (audit order), as base64
/// bytes — 10,000 samples take 13 KB. With the manifest's configuration it determines every SRS radius at any α.
public struct StoredRecord: Codable, Sendable, Equatable {
    public var index: Int
    public var selectedClass: Int
    public var serialized: String
    public var audited: String

    public init(index: Int, selectedClass: Int, record: SerializedRecord) {
        self.index = index; self.selectedClass = selectedClass
        serialized = Data(record.serialized).base64EncodedString(); audited = Data(record.audited).base64EncodedString()
    }

    public func record(path: String) throws -> SerializedRecord {
        guard let s = Data(base64Encoded: serialized), let a = Data(base64Encoded: audited) else {
            throw CoordinatorError.checkpoint(path: path, reason: "image \(index)'s record is not valid base64")
        }
        return SerializedRecord(serialized: [UInt8](s), audited: [UInt8](a))
    }

    public static func path(forReport report: String) -> String {
        String(RunManifest.path(forReport: report).dropLast(".json".count)) + ".records.jsonl"
    }
    public static func open(path: String, resume: Bool) throws -> ImageLineLog<StoredRecord> {
        try ImageLineLog(path: path, resume: resume, index: \.index)
    }
}
