/// What every training job's options share: how long and how fast to train, where the checkpoint goes, and the
/// provenance written into it. A job's options hold one as `run` and conform to `TrainingRunOptions`, so these
/// fields read and write as the options' own (`options.batchSize`).
public struct TrainingRun: Sendable {
    public var epochs: Int
    public var batchSize: Int
    /// The peak learning rate of the job's schedule.
    public var learningRate: Float
    /// Initialisation, shuffling and noise.
    public var seed: UInt64 = 0
    /// The checkpoint path.
    public var output: String
    /// The command line and code version recorded in the checkpoint.
    public var command = ""
    public var codeVersion = ""
    /// A progress bar on the root.
    public var showProgress = true

    public init(epochs: Int, batchSize: Int, learningRate: Float, output: String) {
        self.epochs = epochs; self.batchSize = batchSize; self.learningRate = learningRate; self.output = output
    }
}

/// Options of a training job: its `TrainingRun` fields are reachable as its own.
@dynamicMemberLookup
public protocol TrainingRunOptions {
    var run: TrainingRun { get set }
}

extension TrainingRunOptions {
    public subscript<T>(dynamicMember field: WritableKeyPath<TrainingRun, T>) -> T {
        get { run[keyPath: field] }
        set { run[keyPath: field] = newValue }
    }
}
