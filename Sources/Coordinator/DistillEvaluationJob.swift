import Datasets
import Distillation
import Foundation

/// `distill-eval`: fresh students (one per seed) trained on a distilled set and evaluated on real images — the
/// test split, or a stratified validation hold-out of the training split for choosing a method's settings
/// without touching the test set. Reports mean ± std accuracy over the seeds.
public struct DistillEvaluationJob {
    /// Where the students are evaluated.
    public enum Part: String, Sendable, CaseIterable { case test, validation }

    public struct Settings: Sendable {
        /// The distilled set (.safetensors) written by `distill`.
        public var distilled: String
        /// Data set evaluated on (nil: the one the set was distilled from).
        public var data: String?
        public var part = Part.test
        /// With `validation`: images held out of the training split (stratified, seed 0).
        public var validationSize = 5000
        /// Evaluate on the first N images (0 = all).
        public var limit = 0
        public var seeds = 3
        public var architecture = StudentArchitecture.convnet
        public var labels = LabelKind.hard
        public var epochs = 300
        public var batchSize = 256
        public var learningRate: Float = 1e-3
        public var weightDecay: Float = 5e-4
        public var width = 32
        public var maxShift = 2

        public init(distilled: String) { self.distilled = distilled }
    }

    public let settings: Settings

    public init(_ settings: Settings) { self.settings = settings }

    /// `log` gets the header, the students' progress and the result line; `note` a warning when the set is
    /// evaluated on another data set than it was distilled from.
    public func run(log: @escaping (String) -> Void, note: (String) -> Void) throws {
        let s = settings
        let set = try DistilledSet.load(from: URL(fileURLWithPath: s.distilled))
        let source = try ImageDataSource(parsing: s.data ?? set.datasetName)
        if source.rawValue != set.datasetName.lowercased() {
            // Same image shape and class count, so it runs — but it tests a transfer, not the distillation.
            note("\(s.distilled) was distilled from \(set.datasetName); evaluating on \(source.rawValue) as --data asks")
        }
        var test: ImageDataset
        switch s.part {
        case .test:
            test = try source.load(split: .test)
        case .validation:
            let train = try source.load(split: .train)
            guard s.validationSize >= 10, s.validationSize < train.count else {
                throw CoordinatorError.invalidOption(
                    name: "validation-size", value: String(s.validationSize),
                    reason: "must be in 10..<\(train.count)")
            }
            let fraction = Double(s.validationSize) / Double(train.count)
            let split = try StratifiedSplit(labels: train.labels, train: 1 - fraction, validation: fraction, test: 0, seed: 0)
            test = train.subset(split.validation)
        }
        if s.limit > 0 && s.limit < test.count { test = test.subset(Array(0..<s.limit)) }
        guard s.seeds >= 1 else {
            throw DistillationError.invalidConfiguration(field: "seeds", value: String(s.seeds), requirement: "≥ 1")
        }
        let config = DistilledEvaluationConfig(
            architecture: s.architecture, labels: s.labels, epochs: s.epochs,
            batchSize: s.batchSize, learningRate: s.learningRate, weightDecay: s.weightDecay, width: s.width, maxShift: s.maxShift,
            seeds: (0..<s.seeds).map(UInt64.init))
        log(
            "\(s.distilled): \(set.method) IPC \(set.ipc) on \(set.datasetName), \(set.count) images; \(s.architecture.rawValue), "
                + "\(s.labels.rawValue) labels, \(s.epochs) epochs, \(s.seeds) seeds, \(test.count) \(s.part.rawValue) images")
        let r = try DistilledEvaluation.run(set: set, test: test, config: config, path: s.distilled, progress: log)
        log(
            String(
                format: "accuracy %.2f ± %.2f %% (%@ %@ %@ IPC %d)", r.mean * 100, r.std * 100,
                s.architecture.rawValue, s.labels.rawValue, set.method, set.ipc))
    }
}
