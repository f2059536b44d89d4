import Certification
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
        let outputs = comm.rank == 0 ? try openOutputs(source: target.source) : nil
        // Every rank needs the same image list: the root's view of finished images is broadcast.
        let doneWords = try comm.broadcastVariableLength((outputs?.done ?? []).sorted().map(Int64.init))
        let done = Set(doneWords.map(Int.init))
        let images = s.images(count: dataset.count, done: done)
        let job = CertifyJob(smoothing: smoothing, data: dataset, images: images)

        let manifestPath = RunManifest.path(forReport: s.output)
        var manifest = RunManifest(version: EquicertVersion.string, status: "running", command: s.command, model: s.model,
                                   modelMetadata: target.metadata,
                                   data: target.source.rawValue, split: s.split.rawValue, skip: s.skip, max: s.max, shard: s.shardText,
                                   configuration: config,
                                   radiusEstimator: config.radius.rawValue,
                                   worldSize: comm.size, wallSeconds: 0, imagesCertified: done.count, samplesPerSecond: 0,
                                   ranks: [], busySecondsMin: 0, busySecondsMedian: 0, busySecondsMax: 0,
                                   rootAggregationSeconds: 0, images: outputs?.previousCosts ?? [])
        if config.mode == .srs { manifest.records = URL(fileURLWithPath: StoredRecord.path(forReport: s.output)).lastPathComponent }
        if comm.rank == 0 { try manifest.write(to: manifestPath) }

        let bar = ProgressBar(label: "certify", total: images.count, unit: "img", enabled: comm.rank == 0 && s.showProgress)
        var certified = 0, samples: Int64 = 0, rootSeconds = 0.0, abstained = 0, correct = 0
        let report = try job.run(on: comm) { r in
            let t0 = Date()
            let cert = r.certificate
            let row = cert.abstained
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
        guard comm.rank == 0, let outputs else { return nil }
        outputs.writer.close()
        let wall = Date().timeIntervalSince(started)
        let ranks = report.ranks ?? [report.local]
        let busy = ranks.map(\.busySeconds).sorted()
        manifest.status = "complete"
        manifest.wallSeconds = wall
        manifest.imagesCertified = done.count + certified
        manifest.samplesPerSecond = Double(samples) / wall
        manifest.ranks = ranks.map {
            RunManifest.RankFigures(rank: $0.rank, units: $0.unitsDone, busySeconds: $0.busySeconds, waitSeconds: $0.waitSeconds)
        }
        manifest.busySecondsMin = busy.first ?? 0
        manifest.busySecondsMedian = busy.isEmpty ? 0 : busy[busy.count / 2]
        manifest.busySecondsMax = busy.last ?? 0
        manifest.rootAggregationSeconds = rootSeconds
        try manifest.write(to: manifestPath)
        outputs.costLog.remove()
        outputs.recordLog?.close()
        outputs.lock.release()
        return Summary(certified: certified, correct: correct, abstained: abstained, wallSeconds: wall,
                       samplesPerSecond: Double(samples) / wall, worldSize: comm.size)
    }

    /// Root only: the report, cost log and (SRS) record log, fresh or — with `resume` — reopened, keeping the
    /// rows of finished images and the costs of exactly those images.
    func openOutputs(source: ImageDataSource) throws -> Outputs {
        let s = settings
        let srs = s.configuration.mode == .srs
        let recordPath = StoredRecord.path(forReport: s.output)
        let costPath = ImageCostLog.path(forReport: s.output)
        let parent = URL(fileURLWithPath: s.output).deletingLastPathComponent()
        try? FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        try ReportWriter.checkWritable(path: s.output)
        let lock = try s.guardOutputs(s.outputFiles)
        guard s.resume else {
            let writer = try ReportWriter(path: s.output, mode: .replace)
            let costLog = try ImageCostLog.open(path: costPath, resume: false)
            let recordLog = srs ? try StoredRecord.open(path: recordPath, resume: false) : nil
            return Outputs(writer: writer, costLog: costLog, recordLog: recordLog, lock: lock)
        }
        var previousCosts: [RunManifest.ImageCost] = []
        let manifestPath = RunManifest.path(forReport: s.output)
        if FileManager.default.fileExists(atPath: manifestPath) {
            let old = try RunManifest.read(manifestPath)
            guard old.configuration == s.configuration, old.model == s.model, old.skip == s.skip, old.max == s.max,
                  old.shard == s.shardText, old.data == source.rawValue else {
                throw CoordinatorError.invalidOption(name: "resume", value: s.output,
                    reason: "the run in \(manifestPath) used other settings; resume needs the same command")
            }
            previousCosts = old.images
        }
        let costLog = try ImageCostLog.open(path: costPath, resume: true)
        let recordLog = srs ? try StoredRecord.open(path: recordPath, resume: true) : nil
        let logged = Set(costLog.entries.map(\.index))
        previousCosts = previousCosts.filter { !logged.contains($0.index) } + costLog.entries
        let writer = try ReportWriter(path: s.output, mode: .resume)
        let done = writer.completedIndices
        // Costs are kept only for images whose rows are kept (a logged image without a row is redone).
        previousCosts = previousCosts.filter { done.contains($0.index) }.sorted { $0.index < $1.index }
        return Outputs(writer: writer, costLog: costLog, recordLog: recordLog, done: done, previousCosts: previousCosts, lock: lock)
    }

    /// The manifest's cost entry of one finished image (selection + estimation + audit).
    static func cost(of r: CertifyJob<AnySmoothableClassifier>.ImageResult, srs: Bool) -> RunManifest.ImageCost {
        RunManifest.ImageCost(index: r.index,
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
