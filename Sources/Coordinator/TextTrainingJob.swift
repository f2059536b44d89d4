import Datasets
import Distributed
import Foundation
import NeuralNet
import Optimizers
import TensorCore
import TrainingLoop
import Transformers

/// The text data sets the jobs know by name.
public enum TextDataSource: String, Sendable, CaseIterable {
    /// BBC News topics, 5 classes (`bbc-news.tsv`).
    case bbcNews = "bbc-news"
    /// Rotten Tomatoes review snippets, rotten/fresh (`rt-snippets.tsv`, plot summaries dropped).
    case rtSentiment = "rt-sentiment"

    /// Parse a `--data` value.
    public init(parsing s: String) throws {
        guard let v = TextDataSource(rawValue: s.lowercased()) else {
            throw CoordinatorError.invalidOption(
                name: "data", value: s,
                reason: "expected one of \(Self.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = v
    }

    /// The TSV file inside the `text` data directory.
    public var fileName: String { self == .bbcNews ? "bbc-news.tsv" : "rt-snippets.tsv" }

    /// Load the corpus from `directory`, or from the `text` directory the data locator finds.
    /// With `limit` > 0, keep `limit` documents at evenly spaced positions i·N/limit (every class of a file
    /// sorted by class is represented), the same subset on every call.
    public func load(directory: String? = nil, limit: Int = 0, locator: DataLocator = .process) throws -> TextDataset {
        let dir = try directory.map { URL(fileURLWithPath: $0) } ?? locator.locate("text", requiring: [fileName])
        let d = self == .bbcNews ? try TextDataset.bbcNews(directory: dir) : try TextDataset.rottenTomatoes(directory: dir)
        guard limit > 0 && limit < d.count else { return d }
        return d.subset((0..<limit).map { $0 * d.count / limit })
    }
}

/// Fine-tuning a text classifier (MiniLM + linear head) end to end, the usual transformer recipe: AdamW
/// (decoupled weight decay, none on biases and LayerNorm), linear warm-up then linear decay to 0, global
/// gradient-norm clipping, cross-entropy. A seeded stratified train/validation/test split is drawn once and
/// written next to the checkpoint (`splitPath(forCheckpoint:)`); validation accuracy is measured after every
/// epoch, test accuracy once at the end. Texts longer than `maxLength` tokens are truncated; how many were,
/// per part, is logged and stored in the checkpoint.
///
/// Data-parallel over a communicator as `DEQTrainingJob`: every rank holds the whole model and takes the same
/// batch indices; rank r computes the gradient of its contiguous slice of the batch scaled by slice/batch, one
/// all-reduce of the flat gradient buffer sums them, and every rank clips and steps identically. Evaluation is
/// sharded the same way (counts summed). The root alone logs and writes files.
public struct TextTrainingJob {
    /// Where the encoder comes from.
    public enum Encoder: Sendable {
        /// A pretrained Hugging Face BERT directory (config.json, vocab.txt, model.safetensors);
        /// nil: the `minilm` directory the data locator finds.
        case pretrained(directory: String?)
        /// A randomly initialised encoder of this size over the vocabulary file `vocabulary` (one token a line)
        /// — for training from scratch and for quick tests.
        case scratch(hiddenSize: Int, layerCount: Int, headCount: Int, intermediateSize: Int, vocabulary: String)
    }

    public struct Options: Sendable, TrainingRunOptions {
        /// Epochs, batch (32), learning rate (5e-5), seed, output and provenance.
        public var run: TrainingRun
        public var data: TextDataSource
        /// Directory holding the TSV (nil: located).
        public var dataDirectory: String?
        public var encoder: Encoder = .pretrained(directory: nil)
        public var pooling: TextClassifier.Pooling = .mean
        /// Steps of linear warm-up (nil: 10 % of all steps, rounded).
        public var warmupSteps: Int? = nil
        public var weightDecay: Float = 0.01
        /// Maximum global L2 norm of the gradient (0 disables clipping).
        public var clipNorm: Float = 1.0
        /// Tokens per text, [CLS] and [SEP] included; longer texts are truncated (and counted).
        public var maxLength: Int = 128
        public var validationFraction: Double = 0.1
        public var testFraction: Double = 0.1
        /// Use only this many documents (evenly spaced, see `TextDataSource.load`; 0 = all).
        public var limit: Int = 0
        public var evalBatchSize: Int = 64

        public init(data: TextDataSource, epochs: Int, output: String) {
            run = TrainingRun(epochs: epochs, batchSize: 32, learningRate: 5e-5, output: output)
            self.data = data
        }
    }

    /// Summary of a finished run.
    public struct Summary: Sendable {
        public var epochs: Int
        public var seconds: Double
        /// Training wall time of each epoch (without evaluation).
        public var epochSeconds: [Double]
        /// Mean training loss of each epoch.
        public var trainLoss: [Double]
        public var validationAccuracy: [Double]
        public var testAccuracy: Double
        public var counts: (train: Int, validation: Int, test: Int)
        /// Texts cut to `maxLength` tokens, per part.
        public var truncated: (train: Int, validation: Int, test: Int)
        public var splitPath: String
    }

    public let options: Options
    public init(_ options: Options) { self.options = options }

    /// The split file beside a checkpoint: `x.safetensors` → `x.split` (any other name gets `.split` appended).
    public static func splitPath(forCheckpoint path: String) -> String {
        (path.hasSuffix(".safetensors") ? String(path.dropLast(".safetensors".count)) : path) + ".split"
    }

    /// Build the classifier the options ask for (pretrained or scratch), with a fresh head seeded by `seed`.
    static func makeClassifier(_ o: Options, classNames: [String]) throws -> TextClassifier {
        switch o.encoder {
        case let .pretrained(directory):
            let dir =
                try directory.map { URL(fileURLWithPath: $0) }
                ?? DataLocator.process.locate("minilm", requiring: ["config.json", "vocab.txt", "model.safetensors"])
            return TextClassifier(
                pretrained: try PretrainedEncoder(directory: dir), classNames: classNames,
                pooling: o.pooling, seed: o.seed)
        case let .scratch(h, layers, heads, ffn, vocabulary):
            guard h > 0, heads > 0, h % heads == 0, layers >= 0, ffn > 0 else {
                throw CoordinatorError.invalidOption(
                    name: "encoder", value: "H \(h), \(layers) layers, \(heads) heads, FFN \(ffn)",
                    reason: "H must be a positive multiple of the heads")
            }
            let tokenizer = try WordPieceTokenizer(vocabulary: URL(fileURLWithPath: vocabulary))
            let config = BertConfiguration(
                vocabularySize: tokenizer.vocabularySize, hiddenSize: h, layerCount: layers,
                headCount: heads, intermediateSize: ffn, maxPositions: max(o.maxLength, 2))
            return TextClassifier(
                configuration: config, tokenizer: tokenizer, classNames: classNames, pooling: o.pooling,
                seed: o.seed)
        }
    }

    public func run(on comm: any Communicator = SingleProcessCommunicator(), log: (String) -> Void) throws -> Summary {
        let o = options, isRoot = comm.rank == 0
        guard o.epochs >= 1 else { throw CoordinatorError.invalidOption(name: "epochs", value: "\(o.epochs)", reason: "must be ≥ 1") }
        guard o.batchSize >= 1 else { throw CoordinatorError.invalidOption(name: "batch", value: "\(o.batchSize)", reason: "must be ≥ 1") }
        guard o.evalBatchSize >= 1 else {
            throw CoordinatorError.invalidOption(name: "eval-batch", value: "\(o.evalBatchSize)", reason: "must be ≥ 1")
        }
        guard o.learningRate > 0, o.learningRate.isFinite else {
            throw CoordinatorError.invalidOption(name: "lr", value: "\(o.learningRate)", reason: "must be > 0")
        }
        guard (o.warmupSteps ?? 0) >= 0 else {
            throw CoordinatorError.invalidOption(name: "warmup", value: "\(o.warmupSteps ?? 0)", reason: "must be ≥ 0")
        }
        guard o.clipNorm >= 0, o.weightDecay >= 0 else {
            throw CoordinatorError.invalidOption(name: "clip/weight-decay", value: "\(o.clipNorm)/\(o.weightDecay)", reason: "must be ≥ 0")
        }
        guard o.maxLength >= 2 else {
            throw CoordinatorError.invalidOption(name: "max-length", value: "\(o.maxLength)", reason: "must be ≥ 2 ([CLS] and [SEP])")
        }
        guard o.limit >= 0 else { throw CoordinatorError.invalidOption(name: "limit", value: "\(o.limit)", reason: "must be ≥ 0") }

        let data = try o.data.load(directory: o.dataDirectory, limit: o.limit)
        let split = try StratifiedSplit(
            labels: data.labels, train: 1 - o.validationFraction - o.testFraction,
            validation: o.validationFraction, test: o.testFraction, seed: o.seed)
        guard !split.train.isEmpty, !split.validation.isEmpty, !split.test.isEmpty else {
            throw CoordinatorError.invalidOption(
                name: "limit", value: "\(o.limit)",
                reason: "too few documents for a train/validation/test split (\(data.count))")
        }
        let model = try Self.makeClassifier(o, classNames: data.classNames)
        try TextClassifier.checkMaximumLength(o.maxLength, configuration: model.configuration)
        let encoded = try model.encode(data.texts, maxLength: o.maxLength)
        func cut(_ idx: [Int]) -> Int { idx.filter { encoded[$0].truncated }.count }
        let truncated = (cut(split.train), cut(split.validation), cut(split.test))
        let splitPath = Self.splitPath(forCheckpoint: o.output)
        if isRoot {
            try FileManager.default.createDirectory(
                at: URL(fileURLWithPath: o.output).deletingLastPathComponent(),
                withIntermediateDirectories: true)
            try split.write(to: splitPath)
            log(
                "\(o.data.rawValue): \(data.count) texts, \(data.classCount) classes; split (seed \(o.seed)) train \(split.train.count) / "
                    + "validation \(split.validation.count) / test \(split.test.count) → \(splitPath)")
            log(
                "max length \(o.maxLength) tokens: truncated train \(truncated.0)/\(split.train.count), validation "
                    + "\(truncated.1)/\(split.validation.count), test \(truncated.2)/\(split.test.count)")
            log(
                "model: \(model.configuration.layerCount) layers, H \(model.configuration.hiddenSize), \(model.parameters.count) parameters, "
                    + "\(o.pooling.rawValue) pooling; world size \(comm.size)")
        }

        let p = model.parameters
        // No weight decay on biases and LayerNorm (BERT's fine-tuning convention).
        let noDecay = p.slots.filter { $0.name.hasSuffix(".bias") || $0.name.contains("LayerNorm") }.map(\.range)
        var optimizer = try AdamW(weightDecay: o.weightDecay, decayMask: .excluding(noDecay))
        let batcher = Batcher(pool: split.train, batchSize: o.batchSize, dropLast: false, shuffle: true, seed: o.seed)
        let totalSteps = batcher.batchesPerEpoch * o.epochs
        let schedule = LearningRateSchedule.linear(
            base: o.learningRate, warmup: o.warmupSteps ?? Int((0.1 * Double(totalSteps)).rounded()),
            total: totalSteps, floor: 0)
        let started = Date()
        var summary = Summary(
            epochs: o.epochs, seconds: 0, epochSeconds: [], trainLoss: [], validationAccuracy: [],
            testAccuracy: .nan, counts: (split.train.count, split.validation.count, split.test.count),
            truncated: truncated, splitPath: splitPath)
        var step = 0
        func metadata(epochs: Int, steps: Int) -> [String: String] {
            var m = [
                "equicert.data": o.data.rawValue, "equicert.max-length": "\(o.maxLength)", "equicert.command": o.command,
                "equicert.version": o.codeVersion, "equicert.epochs-done": "\(epochs)", "equicert.steps-done": "\(steps)",
                "equicert.split-file": URL(fileURLWithPath: splitPath).lastPathComponent, "equicert.text.limit": "\(o.limit)",
                "equicert.text.truncated":
                    "train \(truncated.0)/\(split.train.count) validation \(truncated.1)/\(split.validation.count) test \(truncated.2)/\(split.test.count)",
                "equicert.train.seconds": String(format: "%.0f", Date().timeIntervalSince(started)),
                "equicert.train.seconds-per-epoch": summary.epochSeconds.map { String(format: "%.1f", $0) }.joined(separator: " "),
                "equicert.train.validation-accuracy": summary.validationAccuracy.map { String(format: "%.4f", $0) }.joined(separator: " "),
            ]
            if summary.testAccuracy.isFinite { m["equicert.train.test-accuracy"] = String(format: "%.4f", summary.testAccuracy) }
            return m
        }

        var loop = TrainingLoop(batcher: batcher, learningRate: { schedule.lr(step: $0) })
        loop.gradient = DataParallel.reduction(over: comm)
        loop.clipping = o.clipNorm > 0 ? .maxNorm(o.clipNorm) : .measure
        var bar: ProgressBar? = nil
        var t0 = Date()
        var lossSum = 0.0, correct = 0.0, seen = 0, batches = 0
        try loop.run(
            epochs: 0..<o.epochs, step: &step, parameters: p, optimizer: &optimizer, statCount: 2,
            beforeEpoch: { epoch in
                bar = ProgressBar(
                    label: "epoch \(epoch + 1)/\(o.epochs)", total: batcher.batchesPerEpoch, unit: "step",
                    enabled: o.showProgress && isRoot)
                t0 = Date()
                lossSum = 0; correct = 0; seen = 0; batches = 0
            },
            compute: { position, s in
                // batch-weighted loss, correct; summed over ranks
                let b = position.indices.count
                let slice = Array(position.indices[s])
                let r = model.trainingStep(model.batch(slice.map { encoded[$0] }), labels: slice.map { data.labels[$0] })
                return [Double(r.loss) * Double(s.count) / Double(b), Double(r.correct)]
            },
            check: { position, stats, norm in
                guard stats[0].isFinite, norm.isFinite else {
                    throw CoordinatorError.nonFiniteTraining(step: position.step, reason: "loss \(stats[0]), gradient norm \(norm)")
                }
            },
            afterStep: { position, stats, norm in
                batches += 1
                lossSum += stats[0]; correct += stats[1]; seen += position.indices.count
                bar!.update(
                    position.batch + 1,
                    String(
                        format: "loss %.4f acc %.1f%% |g| %.2f", lossSum / Double(batches),
                        100 * correct / Double(seen), norm))
            },
            afterEpoch: { epoch, steps, _ in
                let seconds = Date().timeIntervalSince(t0)
                summary.epochSeconds.append(seconds)
                summary.trainLoss.append(lossSum / Double(max(batches, 1)))
                let v = try TextEvaluation.run(
                    model, encoded: encoded, labels: data.labels, indices: split.validation,
                    batchSize: o.evalBatchSize, comm: comm)
                summary.validationAccuracy.append(v.accuracy)
                guard isRoot else { return }
                log(
                    String(
                        format: "epoch %d: train loss %.4f acc %.2f%% (%.1f s) | validation (%d) loss %.4f acc %.2f%%",
                        epoch + 1, summary.trainLoss.last!, 100 * correct / Double(max(seen, 1)), seconds, v.count,
                        v.loss, 100 * v.accuracy))
                try model.save(to: URL(fileURLWithPath: o.output), metadata: metadata(epochs: epoch + 1, steps: steps))
            })
        let t = try TextEvaluation.run(
            model, encoded: encoded, labels: data.labels, indices: split.test,
            batchSize: o.evalBatchSize, comm: comm)
        summary.testAccuracy = t.accuracy
        summary.seconds = Date().timeIntervalSince(started)
        if isRoot {
            log(String(format: "test (%d): loss %.4f acc %.2f%%", t.count, t.loss, 100 * t.accuracy))
            try model.save(to: URL(fileURLWithPath: o.output), metadata: metadata(epochs: o.epochs, steps: step))
        }
        return summary
    }
}

/// Accuracy and mean cross-entropy of a text classifier on a subset of pre-encoded texts, sharded over ranks.
public enum TextEvaluation {
    public struct Result: Sendable {
        public var count: Int
        public var correct: Int
        public var accuracy: Double
        public var loss: Double
    }

    /// Rank r evaluates the contiguous r-th share of `indices` (sorted by token count, so batches pad little);
    /// correct counts and loss sums are all-reduced, so every rank returns the same result.
    public static func run(
        _ model: TextClassifier, encoded: [EncodedText], labels: [Int], indices: [Int], batchSize: Int,
        comm: any Communicator = SingleProcessCommunicator()
    ) throws -> Result {
        precondition(batchSize >= 1)
        let order = indices.sorted { (encoded[$0].ids.count, $0) < (encoded[$1].ids.count, $1) }
        let lo = order.count * comm.rank / comm.size, hi = order.count * (comm.rank + 1) / comm.size
        var sums: [Double] = [0, 0]  // correct, loss sum
        var start = lo
        while start < hi {
            let idx = Array(order[start..<min(start + batchSize, hi)])
            let y = idx.map { labels[$0] }
            let z = model.logits(model.batch(idx.map { encoded[$0] }))
            sums[0] += Double(zip(z.argmaxRows(), y).filter { $0 == $1 }.count)
            sums[1] += Double(Loss.crossEntropy(logits: z, labels: y).loss) * Double(idx.count)
            start += idx.count
        }
        if comm.size > 1 { try comm.allReduce(&sums, op: .sum) }
        let n = indices.count
        return Result(
            count: n, correct: Int(sums[0]), accuracy: n > 0 ? sums[0] / Double(n) : .nan,
            loss: n > 0 ? sums[1] / Double(n) : .nan)
    }
}
