import Datasets
import Distributed
import Equilibrium
import Foundation
import NeuralNet
import Optimizers
import TensorCore
import TrainingLoop

/// Training a DEQ (DEQ-S, or an MDEQ when `Options.mdeq` is set) on an image data set with Gaussian noise augmentation (Cohen et al.'s recipe for smoothing):
/// x + N(0, σ²I), not clipped to [0,1] (the smoothed classifier sees unclipped noise too). Adam with a cosine
/// schedule (linear warm-up), implicit or phantom gradients, Jacobian regularisation. Noise for step s of the run
/// comes from the counter-based stream keyed by (seed, "TRAI", s), so a resumed run continues the same sequence.
///
/// Data-parallel over a communicator: every rank draws the whole batch's noise (so a sample sees the same noise at
/// any rank count), computes the gradient of its contiguous slice of the batch scaled by slice/batch, and one
/// all-reduce of the flat gradient buffer gives every rank the batch gradient; all ranks then take the same
/// optimizer step. The root alone evaluates, logs and writes checkpoints.
public struct DEQTrainingJob {
    public struct Options: Sendable, TrainingRunOptions {
        /// Epochs, batch (128), learning rate (1e-3), seed, output and provenance.
        public var run: TrainingRun
        public var data: ImageDataSource
        public var sigma: Float
        public var warmupSteps: Int = 200
        public var configuration: DEQConfiguration
        /// When set, train an MDEQ of this configuration instead of the DEQ-S `configuration` (checkpoints via
        /// `DEQCheckpoint.saveMDEQ`).
        public var mdeq: MDEQConfiguration?
        public var training: DEQTrainingConfig
        /// Fraction of steps with the Jacobian regulariser (1 = every step).
        public var jacobianFraction: Float = 1
        /// Limit the training set (0 = all) — for quick runs and tests.
        public var trainLimit: Int = 0
        /// Test images evaluated after each epoch (0 = all).
        public var evalLimit: Int = 2000
        public var resume: Bool = false
        /// Stop after this many epochs have been done in total (0: run to `epochs`). The schedule still spans
        /// `epochs`, so stopping and resuming gives exactly the uninterrupted run.
        public var stopAfterEpochs: Int = 0

        public init(
            data: ImageDataSource, sigma: Float, epochs: Int, configuration: DEQConfiguration,
            training: DEQTrainingConfig, output: String
        ) {
            run = TrainingRun(epochs: epochs, batchSize: 128, learningRate: 1e-3, output: output)
            self.data = data; self.sigma = sigma; self.configuration = configuration; self.training = training
        }
    }

    public let options: Options
    public init(_ options: Options) { self.options = options }

    /// Summary of a finished run.
    public struct Summary: Sendable {
        public var epochs: Int
        public var seconds: Double
        public var cleanAccuracy: Double
        public var noisyAccuracy: Double
        public var meanResidual: Double
    }

    public func run(on comm: any Communicator = SingleProcessCommunicator(), log: (String) -> Void) throws -> Summary {
        let isRoot = comm.rank == 0
        let o = options
        guard o.sigma >= 0, o.sigma.isFinite else { throw CoordinatorError.invalidOption(name: "sigma", value: "\(o.sigma)", reason: "must be ≥ 0") }
        guard o.epochs >= 1 else { throw CoordinatorError.invalidOption(name: "epochs", value: "\(o.epochs)", reason: "must be ≥ 1") }
        guard o.batchSize >= 1 else { throw CoordinatorError.invalidOption(name: "batch", value: "\(o.batchSize)", reason: "must be ≥ 1") }
        guard o.learningRate > 0 else { throw CoordinatorError.invalidOption(name: "lr", value: "\(o.learningRate)", reason: "must be > 0") }

        var train = try o.data.load(split: .train)
        let test = try o.data.load(split: .test)
        if o.trainLimit > 0 && o.trainLimit < train.count { train = train.subset(Array(0..<o.trainLimit), name: train.name) }
        let c = o.configuration
        let (family, inputShape, classes) =
            o.mdeq.map { ("mdeq", [$0.inputHeight, $0.inputWidth, $0.inputChannels], $0.classes) }
            ?? ("deq-s", [c.inputHeight, c.inputWidth, c.inputChannels], c.classes)
        guard train.imageShape == inputShape, train.classCount == classes else {
            throw CoordinatorError.modelDataMismatch(
                model: "\(family) \(inputShape.map(String.init).joined(separator: "×")), \(classes) classes",
                data: o.data.rawValue, reason: "data has \(train.imageShape), \(train.classCount) classes")
        }

        var model: any EquilibriumModel = try o.mdeq.map { try MDEQ($0, seed: o.seed) } ?? DEQSmall(c, seed: o.seed)
        var optimizer = try Adam()
        var startEpoch = 0, step = 0
        if o.resume {
            // The checkpoint's architecture must be the requested one; its epochs, steps and optimizer state resume.
            let (prov, file): (DEQCheckpoint.Provenance, SafeTensorsFile)
            if let want = o.mdeq {
                let (m, p, f) = try DEQCheckpoint.loadMDEQ(o.output)
                guard m.configuration == want else {
                    throw CoordinatorError.checkpoint(path: o.output, reason: "--resume: checkpoint architecture differs from the requested one")
                }
                (model, prov, file) = (m, p, f)
            } else {
                let (m, p, f) = try DEQCheckpoint.load(o.output)
                // The flatten head's column order belongs to the weights on disk (an old checkpoint is channels-last
                // while new configurations default to PyTorch's order): take it from the file, compare the rest.
                var requested = c
                requested.flattenOrder = m.configuration.flattenOrder
                guard m.configuration == requested else {
                    throw CoordinatorError.checkpoint(path: o.output, reason: "--resume: checkpoint architecture differs from the requested one")
                }
                (model, prov, file) = (m, p, f)
            }
            startEpoch = prov.epochsDone; step = prov.stepsDone
            if let state = try DEQCheckpoint.optimizerState(in: file) {
                try optimizer.restore(state, parameterCount: model.parameters.count)
            }
            log("resuming \(o.output) after epoch \(startEpoch) (step \(step))")
        }
        let batcher = Batcher(count: train.count, batchSize: o.batchSize, dropLast: true, shuffle: true, seed: o.seed)
        let totalSteps = batcher.batchesPerEpoch * o.epochs
        let schedule = LearningRateSchedule.cosine(base: o.learningRate, warmup: o.warmupSteps, total: totalSteps, floor: 0)
        // No weight decay on GroupNorm parameters and biases (Adam has none by default anyway).
        let started = Date()
        var lastClean = 0.0, lastNoisy = 0.0, lastResidual = 0.0

        let lastEpoch = o.stopAfterEpochs > 0 ? min(o.epochs, o.stopAfterEpochs) : o.epochs
        var loop = TrainingLoop(batcher: batcher, learningRate: { schedule.lr(step: $0) })
        loop.gradient = DataParallel.reduction(over: comm)
        var bar: ProgressBar? = nil
        var lossSum = 0.0, correct = 0, seen = 0, residualSum = 0.0, jacSum = 0.0, batches = 0
        try loop.run(
            epochs: startEpoch..<lastEpoch, step: &step, parameters: model.parameters, optimizer: &optimizer, statCount: 4,
            beforeEpoch: { epoch in
                bar = ProgressBar(
                    label: "epoch \(epoch + 1)/\(o.epochs)", total: batcher.batchesPerEpoch, unit: "step",
                    enabled: o.showProgress && isRoot)
                lossSum = 0; correct = 0; seen = 0; residualSum = 0; jacSum = 0; batches = 0
            },
            compute: { position, s in
                var (x, labels) = train.batch(position.indices)
                let step = position.step
                var noise = RandomStream(seed: o.seed, 0x5452_4149, UInt32(truncatingIfNeeded: step), UInt32(truncatingIfNeeded: step >> 32))
                if o.sigma > 0 { x += noise.gaussian(shape: x.shape, mean: 0, std: o.sigma) }
                let useJ = o.training.jacobianWeight > 0 && noise.nextUniformFloat() < o.jacobianFraction
                let eps = useJ ? noise.gaussian(shape: model.stateShape(batch: x.shape[0])) : nil
                let b = x.shape[0]
                // loss, correct, residual, Jacobian norm (batch-weighted), summed over ranks.
                let r = model.trainingStep(
                    x.slice(rows: s), labels: Array(labels[s]), config: o.training,
                    jacobianNoise: eps?.slice(rows: s))
                let w = Double(s.count) / Double(b)
                return [Double(r.loss) * w, Double(r.correct), Double(r.forwardResidual) * w, Double(r.jacobianNorm) * w]
            },
            check: { position, stats, _ in
                guard stats[0].isFinite, model.parameters.gradients.allSatisfy({ $0.isFinite }) else {
                    throw CoordinatorError.nonFiniteTraining(step: position.step, reason: "loss \(stats[0]) or a gradient is not finite")
                }
            },
            afterStep: { position, stats, _ in
                let r = (
                    loss: Float(stats[0]), correct: Int(stats[1]), batch: position.indices.count, forwardResidual: Float(stats[2]),
                    jacobianNorm: Float(stats[3])
                )
                batches += 1
                lossSum += Double(r.loss); correct += r.correct; seen += r.batch
                residualSum += Double(r.forwardResidual); jacSum += Double(r.jacobianNorm)
                bar!.update(
                    position.batch + 1,
                    String(
                        format: "loss %.3f acc %.1f%% res %.2e jac %.3f", lossSum / Double(batches),
                        100 * Double(correct) / Double(seen), residualSum / Double(batches), jacSum / Double(batches)))
            },
            afterEpoch: { epoch, step, optimizer in
                guard isRoot else { return }
                // Evaluate on (a prefix of) the test set, clean and under N(0, σ²) noise.
                let evalCount = o.evalLimit > 0 ? min(o.evalLimit, test.count) : test.count
                let solver = SolverConfig(kind: .anderson, maxSteps: 30, tolerance: 1e-3, stopMode: .relative)
                let ev = DEQEvaluation.run(model: model, data: test, count: evalCount, sigma: o.sigma, solver: solver, seed: o.seed)
                lastClean = ev.cleanAccuracy; lastNoisy = ev.noisyAccuracy; lastResidual = ev.meanResidual
                log(
                    String(
                        format: "epoch %d: train loss %.4f acc %.2f%% | test (%d) clean %.2f%% noisy(σ=%.2f) %.2f%% residual %.2e | %.0f s",
                        epoch + 1, lossSum / Double(max(batches, 1)), 100 * Double(correct) / Double(max(seen, 1)), evalCount,
                        100 * ev.cleanAccuracy, o.sigma, 100 * ev.noisyAccuracy, ev.meanResidual, Date().timeIntervalSince(started)))
                let prov = DEQCheckpoint.Provenance(
                    dataSet: o.data.rawValue, sigma: o.sigma, command: o.command,
                    codeVersion: o.codeVersion, epochsDone: epoch + 1, stepsDone: step,
                    extra: [
                        "equicert.train.test-clean": String(format: "%.4f", ev.cleanAccuracy),
                        "equicert.train.test-noisy": String(format: "%.4f", ev.noisyAccuracy),
                        "equicert.train.test-residual": String(format: "%.3e", ev.meanResidual),
                        "equicert.train.seconds": String(format: "%.0f", Date().timeIntervalSince(started)),
                    ])
                if let m = model as? MDEQ {
                    try DEQCheckpoint.saveMDEQ(m, provenance: prov, optimizer: optimizer.state(), to: o.output)
                } else if let m = model as? DEQSmall {
                    try DEQCheckpoint.save(m, provenance: prov, optimizer: optimizer.state(), to: o.output)
                }
            })
        return Summary(
            epochs: o.epochs, seconds: Date().timeIntervalSince(started), cleanAccuracy: lastClean,
            noisyAccuracy: lastNoisy, meanResidual: lastResidual)
    }
}

/// Clean and noisy accuracy of a DEQ on a data set prefix, with solver statistics.
public enum DEQEvaluation {
    public struct Result: Sendable {
        public var count: Int
        public var cleanAccuracy: Double
        public var noisyAccuracy: Double
        /// Mean final relative residual of the clean solves.
        public var meanResidual: Double
        public var meanEvaluations: Double
        public var divergedSamples: Int
    }

    /// Noise for image i comes from the stream keyed by (seed, "EVAL", i): independent of batching.
    /// `clean: false` skips the clean pass when σ > 0 (cleanAccuracy and meanResidual are then NaN).
    public static func run(
        model: some EquilibriumModel, data: ImageDataset, count: Int, sigma: Float,
        solver: SolverConfig, seed: UInt64, batchSize: Int = 250, clean includeClean: Bool = true
    ) -> Result {
        let includeClean = includeClean || sigma == 0
        var clean = 0, noisy = 0, residual = 0.0, evals = 0.0, diverged = 0, batches = 0
        var start = 0
        while start < count {
            let idx = Array(start..<min(count, start + batchSize))
            var (x, labels) = data.batch(idx)
            var lc: Tensor? = nil
            if includeClean {
                let (l, _, sc) = model.classify(x, solver: solver)
                lc = l
                clean += zip(l.argmaxRows(), labels).filter { $0 == $1 }.count
                residual += Double(sc.finalRelativeResidual.reduce(0, +))
                evals += Double(sc.evaluations); batches += 1
                diverged += sc.diverged.filter { $0 }.count
            }
            if sigma > 0 { x = NoisyCopies.make(x, imageIndices: idx, sigma: sigma, seed: seed, purpose: 0x4556_414C) }  // "EVAL"
            let ln = sigma > 0 ? model.classify(x, solver: solver).logits : lc!
            noisy += zip(ln.argmaxRows(), labels).filter { $0 == $1 }.count
            start += batchSize
        }
        return Result(
            count: count, cleanAccuracy: includeClean ? Double(clean) / Double(count) : .nan,
            noisyAccuracy: Double(noisy) / Double(count),
            meanResidual: includeClean ? residual / Double(count) : .nan, meanEvaluations: evals / Double(max(batches, 1)),
            divergedSamples: diverged)
    }
}
