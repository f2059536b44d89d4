import Certification
import Datasets
import Distributed
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
    public var showProgress = true
    public var attention: RobustAttentionSettings
    public var calibrationCount: Int
    /// The command line, for the manifest.
    public var command = ""

    public init(model: String, configuration: SmoothingConfiguration, output: String, attention: RobustAttentionSettings,
                calibrationCount: Int) {
        self.model = model; self.configuration = configuration; self.output = output
        self.attention = attention; self.calibrationCount = calibrationCount
    }

    /// The checkpoint with its data, the smoothing of its classifier, and the split to read images from. The
    /// smoothing is built before any output file is touched: a ViT with SRS fails here, leaving nothing behind.
    func load() throws -> (target: SmoothingTarget, smoothing: Smoothing<AnySmoothableClassifier>, dataset: ImageDataset) {
        let target = try SmoothingTarget(checkpoint: model, data: data, attention: attention, calibrationCount: calibrationCount,
                                         dataDirectory: dataDirectory)
        let smoothing = try Smoothing(model: target.classifier, configuration: configuration)
        let dataset = split == .test ? target.test : try target.source.load(split: .train, directory: dataDirectory)
        return (target, smoothing, dataset)
    }

    /// The images this run smooths (the shard's, minus those `done`), in report order.
    func images(count: Int, done: Set<Int> = []) -> [Int] {
        CertifyImages.selectImages(count: count, skip: skip, max: max, shard: shard?.index ?? 0, shards: shard?.count ?? 1,
                                   done: done)
    }
}
