import ArgumentParser
import Coordinator
import Distributed
import Foundation
import Transformers

/// Options of `equicert train --model vit` (its weight decay and clipping are `--weight-decay`, `--clip-norm`).
struct ViTTrainOptions: ParsableArguments {
    @Option(help: "vit: patch side (must divide 28).") var patch: Int = 4
    @Option(help: "vit: token width d.") var dim: Int = 64
    @Option(help: "vit: pre-LN blocks.") var blocks: Int = 4
    @Option(help: "vit: attention heads (must divide --dim).") var heads: Int = 4
    @Option(help: "vit: MLP width.") var mlp: Int = 128
}

/// `equicert train --model vit --data mnist|fashion-mnist`: a small pre-LN ViT, AdamW + cosine, no noise.
func runViTTraining(_ c: TrainCommand, comm: any Communicator) throws {
    let source = try ImageDataSource(parsing: c.data)
    let v = c.vit
    guard v.patch > 0, 28 % v.patch == 0, v.dim > 0, v.heads > 0, v.dim % v.heads == 0, v.blocks >= 0, v.mlp > 0 else {
        throw CoordinatorError.invalidOption(
            name: "patch/dim/heads/blocks/mlp", value: "\(v.patch)/\(v.dim)/\(v.heads)/\(v.blocks)/\(v.mlp)",
            reason: "patch must divide 28, heads must divide dim, all positive")
    }
    let config = ViTConfiguration(patchSize: v.patch, hiddenSize: v.dim, layerCount: v.blocks, headCount: v.heads, mlpSize: v.mlp)
    var o = ViTTrainingJob.Options(data: source, configuration: config, epochs: c.epochs, output: c.out)
    o.batchSize = c.batch ?? 128; o.learningRate = c.lr ?? 1e-3; o.warmupSteps = c.warmup ?? 200; o.seed = c.seed
    o.weightDecay = c.text.weightDecay; o.clipNorm = c.text.clipNorm
    o.trainLimit = c.trainLimit; o.evalLimit = c.evalLimit
    o.command = commandLine(); o.codeVersion = EquicertVersion.string; o.showProgress = comm.rank == 0
    let s = try ViTTrainingJob(o).run(on: comm) { if comm.rank == 0 { printFlushed($0) } }
    guard comm.rank == 0 else { return }
    print(
        String(
            format: "trained vit on %@ in %.0f s: test %.2f%% → %@", source.rawValue, s.seconds,
            100 * (s.testAccuracy.last ?? .nan), c.out))
}
