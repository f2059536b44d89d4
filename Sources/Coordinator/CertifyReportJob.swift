import Certification
import Datasets
import Distributed
import Foundation
import Reports

/// `certify` as a whole run: load the checkpoint, pick the images, run `CertifyJob` on every rank, and on the
/// root write the report row by row (Cohen's TSV), the per-image cost log (and, in SRS, the record log) before
/// each row, and the JSON manifest at the start and the end. With `resume` the finished rows are kept, the
/// earlier run's settings must match, and only the remaining images are certified.
public struct CertifyReportJob {
    public let settings: SmoothingRunSettings

    public init(_ settings: SmoothingRunSettings) { self.settings = settings }

    /// What the root prints at the end.
    public struct Summary: Sendable {
        public var certified: Int, correct: Int, abstained: Int
        public var wallSeconds: Double, samplesPerSecond: Double, worldSize: Int
        /// Ranks of `worldSize` that were parked (no work; `RankParking`).
        public var parkedRanks = 0
    }

    /// The root's view of a report being written: the report, the per-image logs and what an earlier run left.
    struct Outputs {
        var writer: ReportWriter
        var costLog: ImageLineLog<RunManifest.ImageCost>
        var recordLog: ImageLineLog<StoredRecord>?
        var done: Set<Int> = []
        var previousCosts: [RunManifest.ImageCost] = []
        /// The exclusive lock on the report, held until the run ends.
        var lock: OutputLock
    }

    /// Runs on every rank; returns the summary on the root, nil elsewhere.
    public func run(on comm: any Communicator) throws -> Summary? {
        let started = Date()
        let s = settings, config = s.configuration
        let (target, smoothing, dataset) = try s.load()
        let identity =
            comm.rank == 0
            ? try RunIdentity(
                s, source: target.source,
                dataDirectory: try s.dataDirectory.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? target.source.directory()) : nil
        let outputs = comm.rank == 0 ? try openOutputs(source: target.source, dataset: dataset, identity: identity!) : nil
        // A run that fails leaves no lock file, and a fresh run that fails before its first row leaves no files at all.
        var succeeded = false
        defer { if !succeeded, let outputs { Self.abandon(outputs, settings: s) } }
        // Every rank needs the same image list: the root's view of finished images is broadcast.
        let doneWords = try comm.broadcastVariableLength((outputs?.done ?? []).sorted().map(Int64.init))
        let done = Set(doneWords.map(Int.init))
        let images = s.images(count: dataset.count, done: done)
        var job = CertifyJob(smoothing: smoothing, data: dataset, images: images)
        job.stallTimeout = s.stallTimeout

        let manifestPath = RunManifest.path(forReport: s.output)
        var manifest = RunManifest(
            version: EquicertVersion.string, status: "running", command: s.command, model: s.model,
            modelMetadata: target.metadata,
            data: target.source.rawValue, split: s.split.rawValue, skip: s.skip, max: s.max, shard: s.shardText,
            configuration: config,
            radiusEstimator: config.radius.rawValue,
            worldSize: s.parking.map { $0.active.count + $0.parked.count } ?? comm.size, wallSeconds: 0, imagesCertified: done.count,
            samplesPerSecond: 0,
            ranks: [], busySecondsMin: 0, busySecondsMedian: 0, busySecondsMax: 0,
            rootAggregationSeconds: 0, images: outputs?.previousCosts ?? [])
        manifest.modelSHA256 = identity?.settings["model-sha256"]
        manifest.dataDirectory = identity?.settings["data-directory"]
        manifest.settings = identity?.settings
        manifest.settingsHash = identity?.hash
        if let p = s.parking {
            manifest.activeRanks = p.active.count
            manifest.parkedRanks = p.parked.count
            manifest.parked = p.parked.isEmpty ? nil : RankParking.describe(p.parked)
            manifest.oversubscription = p.reason
        }
        if config.mode == .srs { manifest.records = URL(fileURLWithPath: StoredRecord.path(forReport: s.output)).lastPathComponent }
        if comm.rank == 0 { try manifest.write(to: manifestPath) }

        let bar = ProgressBar(label: "certify", total: images.count, unit: "img", enabled: comm.rank == 0 && s.showProgress)
        var certified = 0, samples: Int64 = 0, rootSeconds = 0.0, abstained = 0, correct = 0
        let report = try job.run(on: comm) { r in
            let t0 = Date()
            let cert = r.certificate
            let row =
                cert.abstained
                ? CertificationRow.abstention(index: r.index, label: r.label, seconds: r.seconds)
                : CertificationRow(index: r.index, label: r.label, prediction: cert.prediction, radius: cert.radius, seconds: r.seconds)
            let cost = Self.cost(of: r, srs: config.mode == .srs)
            // Record and costs before the row: every kept row has both on resume.
            if let record = r.record {
                try outputs!.recordLog!.append(StoredRecord(index: r.index, selectedClass: r.selection.topClass, record: record))
            }
            try outputs!.costLog.append(cost)
            try outputs!.writer.append(row)
            manifest.images.append(cost)
            certified += 1
            samples += r.selection.samples + r.estimation.samples
            if cert.abstained { abstained += 1 } else if row.correct { correct += 1 }
            let elapsed = Date().timeIntervalSince(started)
            bar.update(certified, String(format: "%.0f samples/s, correct %d, abstained %d", Double(samples) / elapsed, correct, abstained))
            rootSeconds += Date().timeIntervalSince(t0)
        }
        guard comm.rank == 0, let outputs else { succeeded = true; return nil }
        outputs.writer.close()
        let wall = Date().timeIntervalSince(started)
        let ranks = report.ranks ?? [report.local]
        let busy = ranks.map(\.busySeconds).sorted()
        manifest.status = "complete"
        manifest.wallSeconds = wall
        manifest.imagesCertified = done.count + certified
        manifest.samplesPerSecond = Double(samples) / wall
        // Ranks of the MPI job: with parked ranks the job's communicator numbers the active ones 0, 1, ….
        let worldRank = { (r: Int) in s.parking.map { $0.active[r] } ?? r }
        manifest.ranks = ranks.map {
            RunManifest.RankFigures(rank: worldRank($0.rank), units: $0.unitsDone, busySeconds: $0.busySeconds, waitSeconds: $0.waitSeconds)
        }
        manifest.busySecondsMin = busy.first ?? 0
        manifest.busySecondsMedian = busy.isEmpty ? 0 : busy[busy.count / 2]
        manifest.busySecondsMax = busy.last ?? 0
        manifest.rootAggregationSeconds = rootSeconds
        try manifest.write(to: manifestPath)
        outputs.costLog.remove()
        outputs.recordLog?.close()
        outputs.lock.release()
        succeeded = true
        return Summary(
            certified: certified, correct: correct, abstained: abstained, wallSeconds: wall,
            samplesPerSecond: Double(samples) / wall, worldSize: manifest.worldSize, parkedRanks: s.parking?.parked.count ?? 0)
    }

    /// Root only: the report, cost log and (SRS) record log, fresh or — with `resume` — reopened, keeping the
    /// rows of finished images and the costs of exactly those images. Everything is checked before any file is
    /// opened for writing, so a refusal changes no byte: the outputs (`SmoothingRunSettings.guardOutputs`), and on
    /// resume that the earlier run's manifest exists and names the same settings, and that its rows are of this
    /// run's images and agree with the data set and the manifest's counts.
    func openOutputs(source: ImageDataSource, dataset: ImageDataset, identity: RunIdentity) throws -> Outputs {
        let s = settings
        let parent = URL(fileURLWithPath: s.output).deletingLastPathComponent()
        try? FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        try ReportWriter.checkWritable(path: s.output)
        let lock = try s.guardOutputs(s.outputFiles)
        do { return try open(source: source, dataset: dataset, identity: identity, lock: lock) } catch {
            lock.release()
            throw error
        }
    }

    /// `openOutputs` once the report is locked.
    private func open(source: ImageDataSource, dataset: ImageDataset, identity: RunIdentity, lock: OutputLock) throws -> Outputs {
        let s = settings
        let srs = s.configuration.mode == .srs
        let recordPath = StoredRecord.path(forReport: s.output)
        let costPath = ImageCostLog.path(forReport: s.output)
        guard s.resume else {
            let writer = try ReportWriter(path: s.output, mode: .replace)
            let costLog = try ImageCostLog.open(path: costPath, resume: false)
            let recordLog = srs ? try StoredRecord.open(path: recordPath, resume: false) : nil
            return Outputs(writer: writer, costLog: costLog, recordLog: recordLog, lock: lock)
        }
        let previousCosts = try checkResumable(source: source, dataset: dataset, identity: identity)
        let costLog = try ImageCostLog.open(path: costPath, resume: true)
        let recordLog = srs ? try StoredRecord.open(path: recordPath, resume: true) : nil
        let logged = Set(costLog.entries.map(\.index))
        var costs = previousCosts.filter { !logged.contains($0.index) } + costLog.entries
        let writer = try ReportWriter(path: s.output, mode: .resume)
        let done = writer.completedIndices
        // Costs are kept only for images whose rows are kept (a logged image without a row is redone).
        costs = costs.filter { done.contains($0.index) }.sorted { $0.index < $1.index }
        return Outputs(writer: writer, costLog: costLog, recordLog: recordLog, done: done, previousCosts: costs, lock: lock)
    }

    /// After a failure on the root: the lock is released; a fresh run without a finished row removes its files (an
    /// empty report would only block the next run), a run with rows keeps them for `--resume`.
    static func abandon(_ outputs: Outputs, settings s: SmoothingRunSettings) {
        if !s.resume && outputs.writer.rows.isEmpty {
            outputs.writer.close()
            outputs.costLog.close()
            outputs.recordLog?.close()
            for file in s.outputFiles { unlink(file) }
        }
        outputs.lock.release()
    }

    /// `--resume`, read-only: the earlier run's per-image costs when its report may be continued; else throws naming
    /// what differs. A report with rows needs its manifest (without it nothing says which settings made the rows).
    func checkResumable(source: ImageDataSource, dataset: ImageDataset, identity: RunIdentity) throws -> [RunManifest.ImageCost] {
        let s = settings
        let manifestPath = RunManifest.path(forReport: s.output)
        // The complete rows as they are (a torn last line is what resume cuts; it is not a row).
        var rows: [CertificationRow] = []
        if let data = FileManager.default.contents(atPath: s.output) {
            let bytes = [UInt8](data)
            let end = (bytes.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
            let text = String(decoding: bytes[..<end], as: UTF8.self)
            if !text.isEmpty { rows = try CertificationReport.parse(text, path: s.output) }
        }
        guard FileManager.default.fileExists(atPath: manifestPath) else {
            if rows.isEmpty { return [] }
            throw CoordinatorError.mismatch(
                "--resume: \(s.output) has \(rows.count) rows but its manifest \(manifestPath) is missing, so nothing says which settings made them; restore the manifest, or start again with --force"
            )
        }
        let old = try RunManifest.read(manifestPath)
        if let recorded = old.identity {
            if let d = identity.firstDifference(from: recorded) {
                throw CoordinatorError.mismatch("--resume: \(d.name) differs: \(d.theirs) in the run, \(d.mine) now")
            }
        } else {
            // A manifest from before settings were recorded: the fields it has.
            let pairs: [(String, String, String)] = [
                ("configuration", "\(old.configuration)", "\(s.configuration)"), ("model", old.model, s.model),
                ("skip", String(old.skip), String(s.skip)), ("max", String(old.max), String(s.max)),
                ("shard", old.shard ?? "none", s.shardText ?? "none"), ("data", old.data, source.rawValue),
                ("split", old.split, s.split.rawValue),
            ]
            if let d = pairs.first(where: { $0.1 != $0.2 }) {
                throw CoordinatorError.mismatch("--resume: \(d.0) differs: \(d.1) in the run, \(d.2) now")
            }
        }
        // Rows must be of this run's images, carry the data set's labels, and agree with the recorded counts.
        let selection = Set(s.images(count: dataset.count))
        var costs = old.images
        let logPath = ImageCostLog.path(forReport: s.output)
        if FileManager.default.fileExists(atPath: logPath) {
            let logged = try ImageLineLog<RunManifest.ImageCost>.read(logPath, index: \.index)
            costs = costs.filter { logged[$0.index] == nil } + logged.values
        }
        let costOf = Dictionary(costs.map { ($0.index, $0) }, uniquingKeysWith: { _, b in b })
        for row in rows {
            guard selection.contains(row.index) else {
                throw CoordinatorError.mismatch(
                    "--resume: \(s.output) has a row for image \(row.index), which is not among this run's images (--skip \(s.skip) --max \(s.max)\(s.shardText.map { " --shard " + $0 } ?? ""))"
                )
            }
            guard row.label == dataset.labels[row.index] else {
                throw CoordinatorError.mismatch(
                    "--resume: \(s.output): image \(row.index) has label \(row.label) in the report but \(dataset.labels[row.index]) in the data set")
            }
            if row.prediction >= 0, let selected = costOf[row.index]?.selectedClass, selected != row.prediction {
                throw CoordinatorError.mismatch(
                    "--resume: \(s.output): image \(row.index) predicts \(row.prediction) but the manifest's counts selected class \(selected)")
            }
        }
        return old.images
    }

    /// The manifest's cost entry of one finished image (selection + estimation + audit).
    static func cost(of r: CertifyJob<AnySmoothableClassifier>.ImageResult, srs: Bool) -> RunManifest.ImageCost {
        RunManifest.ImageCost(
            index: r.index,
            sampleEvaluations: r.selection.sampleEvaluations + r.estimation.sampleEvaluations
                + r.audit.sampleEvaluations,
            divergedSamples: r.selection.divergedSamples + r.estimation.divergedSamples
                + r.audit.divergedSamples,
            computeSeconds: r.seconds, agreement: r.certificate.agreement, pALower: r.certificate.pALower,
            selectedClass: r.selection.topClass,
            estimationCounts: r.estimation.words,
            auditStagesRun: srs ? r.auditStagesRun : nil,
            auditStageEvaluations: srs ? r.auditStageEvaluations : nil,
            auditStageSeconds: srs ? r.auditStageSeconds : nil,
            auditBound: r.auditBound)
    }
}
