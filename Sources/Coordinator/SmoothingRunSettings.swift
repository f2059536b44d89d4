import Certification
import Datasets
import Distributed
import Reports
import RobustAttention

/// What a `certify` or `predict` run needs besides the communicator: the checkpoint and data, which images, the
/// smoothing configuration (already validated), where the report goes and whether to continue an earlier run.
public struct SmoothingRunSettings: Sendable {
    /// The split whose images are smoothed.
    public enum Split: String, Sendable, CaseIterable { case test, train }

    /// Checkpoint path (a DEQ-S, an MDEQ or a ViT).
    public var model: String
    /// Data set name (nil: the checkpoint's) and the directory holding its files (nil: the data locator's search).
    public var data: String?
    public var dataDirectory: String?
    /// `predict --outputs`: a TSV of the base classifier's class, residual and logits per selected clean image
    /// (`PerImageOutputs`), written atomically by the root; nil: none.
    public var outputs: String?
    public var split: Split = .test
    /// Every `skip`-th image from 0, at most `max` of them (0 = all selected).
    public var skip: Int = 20
    public var max: Int = 500
    public var configuration: SmoothingConfiguration
    /// `--shard i/n` as typed (kept verbatim in the manifest, which resume compares) and parsed.
    public var shardText: String?
    public var shard: ShardSpec?
    /// Report path (.tsv); the manifest and per-image logs go beside it.
    public var output: String
    public var resume = false
    /// Replace existing outputs (`--force`); without it or `resume` an existing report (or any file written beside
    /// it) is refused before anything is touched.
    public var force = false
    public var showProgress = true
    /// Seconds of silence from a rank holding work after which the job is aborted naming it (`--stall-timeout`).
    public var stallTimeout: Double = WorkQueue.defaultStallTimeout
    /// Which MPI ranks work and which are parked on an oversubscribed host (nil: no host is); the job's
    /// communicator then holds the active ranks only, and the manifest says so.
    public var parking: RankParking?
    public var attention: RobustAttentionSettings
    public var calibrationCount: Int
    /// The command line, for the manifest.
    public var command = ""

    public init(
        model: String, configuration: SmoothingConfiguration, output: String, attention: RobustAttentionSettings,
        calibrationCount: Int
    ) {
        self.model = model; self.configuration = configuration; self.output = output
        self.attention = attention; self.calibrationCount = calibrationCount
    }

    /// The checkpoint with its data, the smoothing of its classifier, and the split to read images from. The
    /// smoothing is built before any output file is touched: a ViT with SRS fails here, leaving nothing behind.
    func load() throws -> (target: SmoothingTarget, smoothing: Smoothing<AnySmoothableClassifier>, dataset: ImageDataset) {
        let target = try SmoothingTarget(
            checkpoint: model, data: data, attention: attention, calibrationCount: calibrationCount,
            dataDirectory: dataDirectory)
        let smoothing = try Smoothing(model: target.classifier, configuration: configuration)
        let dataset = split == .test ? target.test : try target.source.load(split: .train, directory: dataDirectory)
        return (target, smoothing, dataset)
    }

    /// The report and every file written beside it (manifest, per-image cost log, and in SRS the record log).
    public var outputFiles: [String] {
        var files = [output, RunManifest.path(forReport: output), ImageCostLog.path(forReport: output)]
        if configuration.mode == .srs { files.append(StoredRecord.path(forReport: output)) }
        return files
    }

    /// Root only, before anything is written: the outputs are not inputs, and existing ones are replaced only with
    /// `force` or continued with `resume`. Then the exclusive lock on the report for the whole run.
    func guardOutputs(_ files: [String]) throws -> OutputLock {
        try OutputGuard.check(outputs: files, inputs: [model], existing: resume ? .resume : force ? .replace : .refuse)
        return try OutputLock(output: output)
    }

    /// The images this run smooths (the shard's, minus those `done`), in report order.
    func images(count: Int, done: Set<Int> = []) -> [Int] {
        CertifyImages.selectImages(
            count: count, skip: skip, max: max, shard: shard?.index ?? 0, shards: shard?.count ?? 1,
            done: done)
    }
}
