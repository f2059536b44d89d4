import ArgumentParser
import Coordinator
import Distributed
import Foundation
import Transformers

/// Options of `equicert train --model minilm` that the DEQ path does not have.
struct TextTrainOptions: ParsableArguments {
    @Option(help: "minilm: tokens per text, [CLS] and [SEP] included (longer texts are truncated and counted).")
    var maxLength: Int = 128
    @Option(help: "minilm: pooling for the head: mean or cls.") var pooling: TextClassifier.Pooling = .mean
    @Option(help: "minilm and vit: AdamW decoupled weight decay (none on biases and LayerNorm).") var weightDecay: Float = 0.01
    @Option(help: "minilm and vit: maximum global gradient norm (0: no clipping).") var clipNorm: Float = 1.0
    @Option(help: "minilm: model directory (config.json, vocab.txt, model.safetensors; default: the located minilm data).")
    var modelDir: String?
    @Option(help: "minilm: directory holding bbc-news.tsv / rt-snippets.tsv (default: the located text data).")
    var dataDir: String?
    @Option(help: "minilm: texts per evaluation batch.") var evalBatch: Int = 64
}

/// Options of `equicert evaluate` for a text-classifier checkpoint.
struct TextEvaluateOptions: ParsableArguments {
    @Option(help: "Text classifier: part of the split to evaluate: train, validation or test.") var part: TextCheckpoint.Part = .test
    @Option(help: "Text classifier: tokens per text (default: the checkpoint's training length).") var maxLength: Int?
    @Option(help: "Directory of the data: a text classifier's TSV, or an image data set's files (e.g. CIFAR-10's .bin) (default: located).")
    var dataDir: String?
    @Option(help: "Text classifier: texts per batch.") var evalBatch: Int = 64
}

/// `equicert train --model minilm --data bbc-news|rt-sentiment`: fine-tune MiniLM + a linear head end to end.
/// DEQ-only options (σ, solver, head, …) are ignored; `--lr`, `--batch` and `--warmup` default to 5e-5, 32 and
/// 10 % of the steps here.
func runTextTraining(_ c: TrainCommand, comm: any Communicator) throws {
    let source = try TextDataSource(parsing: c.data)
    guard c.text.maxLength >= 2 else {
        throw CoordinatorError.invalidOption(name: "max-length", value: "\(c.text.maxLength)", reason: "must be ≥ 2 ([CLS] and [SEP])")
    }
    guard !c.resume && c.stopAfterEpochs == 0 else {
        throw CoordinatorError.invalidOption(name: "resume", value: "", reason: "--resume/--stop-after-epochs are not supported for minilm")
    }
    var o = TextTrainingJob.Options(data: source, epochs: c.epochs, output: c.out)
    o.dataDirectory = c.text.dataDir
    o.encoder = .pretrained(directory: c.text.modelDir)
    o.pooling = c.text.pooling
    o.batchSize = c.batch ?? 32
    o.learningRate = c.lr ?? 5e-5
    o.warmupSteps = c.warmup
    o.weightDecay = c.text.weightDecay
    o.clipNorm = c.text.clipNorm
    o.maxLength = c.text.maxLength
    o.seed = c.seed
    o.limit = c.trainLimit
    o.evalBatchSize = c.text.evalBatch
    o.command = commandLine()
    o.codeVersion = EquicertVersion.string
    o.showProgress = comm.rank == 0
    let s = try TextTrainingJob(o).run(on: comm) { if comm.rank == 0 { printFlushed($0) } }
    guard comm.rank == 0 else { return }
    let perEpoch = s.epochSeconds.reduce(0, +) / Double(max(s.epochSeconds.count, 1))
    print(
        String(
            format: "trained minilm on %@ in %.0f s (%.0f s per epoch): validation %.2f%%, test %.2f%% (%d texts) → %@ (split %@)",
            source.rawValue, s.seconds, perEpoch, 100 * (s.validationAccuracy.last ?? .nan), 100 * s.testAccuracy,
            s.counts.test, c.out, s.splitPath))
}
