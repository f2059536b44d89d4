import ArgumentParser
import Attacks
import Coordinator
import Foundation

/// `equicert attack`: real attacks on the project's transformer checkpoints, with any attention rule installed.
/// Text classifiers: `deepwordbug` / `textfooler` (black-box). ViTs: `pgd` (L∞ or L2, white-box through the model,
/// the robust layer included; `--attention-gradient detached`; `--transfer-from` crafts on another model).
/// Examples are sharded over ranks under mpirun; the root prints the table and writes the examples.
struct AttackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attack",
        abstract: "Attack a transformer checkpoint (text: deepwordbug, textfooler; ViT: pgd) with any attention rule; table + adversarial examples.")

    @Option(help: "Checkpoint: a MiniLM text classifier or a ViT.") var model: String
    @Option(help: "Attack: deepwordbug or textfooler (text), pgd (images).") var attack: AttackJob.Method
    @Option(help: "Examples attacked (the first ones of the part; 0 = all).") var max: Int = 300
    @Option(help: "Text: part of the checkpoint's split attacked: test, validation, or held-out (test then validation; neither is trained on).")
    var part: AttackJob.Part = .test
    @Option(help: "Seed (random starts, character edits).") var seed: UInt64 = 0
    @OptionGroup var attention: AttentionOptions
    // Text attacks.
    @Option(help: "Text: at most this fraction of the visible words is changed.") var maxWordFraction: Double = 0.25
    @Option(help: "Text: model queries per example.") var queryBudget: Int = 2000
    @Option(help: "textfooler: substitute candidates per word.") var neighbours: Int = 30
    @Option(help: "textfooler: cosine floor of a substitute in the input-embedding space.") var minSimilarity: Float = 0.5
    // PGD.
    @Option(help: "pgd: norm linf or l2.") var norm: PGDAttack.Norm = .linf
    @Option(help: "pgd: budgets ε in [0, 1] pixel units, comma-separated (e.g. 0.05,0.1,0.2).") var epsilons: String = "0.05,0.1,0.2"
    @Option(help: "pgd: steps.") var pgdSteps: Int = 10
    @Option(help: "pgd: step size as a multiple of ε (α = r·ε).") var stepFraction: Float = 0.25
    @Option(
        help:
            "pgd: craft the examples on this model instead (a ViT checkpoint, or 'vanilla' = the same checkpoint with plain attention) and test them on the target."
    )
    var transferFrom: String?
    @Option(
        name: .shortAndLong,
        help:
            "Where the adversarial examples go (text: .tsv; pgd: .png grid of clean/adversarial pairs at the largest ε, plus a .tsv of per-example results)."
    )
    var out: String?
    @Option(help: "auto (MPI when launched by mpirun), off, or mpi.") var distributed: DistributedChoice = .auto
    @Option(help: "OpenBLAS threads per rank.") var threads: Int?
    @Flag(help: "Replace existing output files.") var force = false

    /// `--epsilons 0.05,0.1` → [0.05, 0.1]: non-negative finite numbers.
    func budgets() throws -> [Float] {
        try epsilons.split(separator: ",").map { t -> Float in
            guard let e = Float(t.trimmingCharacters(in: .whitespaces)), e >= 0, e.isFinite else {
                throw CoordinatorError.invalidOption(name: "epsilons", value: epsilons, reason: "expected non-negative numbers, comma-separated")
            }
            return e
        }
    }

    func settings() throws -> AttackJob.Settings {
        var s = AttackJob.Settings(
            model: model, method: attack, attention: try attention.settings(),
            calibrationCount: attention.calibrationExamples)
        s.max = max; s.part = part; s.seed = seed
        s.maxWordFraction = maxWordFraction; s.queryBudget = queryBudget; s.neighbours = neighbours; s.minSimilarity = minSimilarity
        s.norm = norm; s.epsilons = try budgets(); s.pgdSteps = pgdSteps; s.stepFraction = stepFraction
        s.transferFrom = transferFrom; s.output = out
        return s
    }

    func run() throws {
        // Without MPI: one in-process rank per core with one BLAS thread each (the per-head GEMMs are tiny, and a
        // 2-thread OpenBLAS on them was 15× slower on a busy machine than 1 thread).
        let workers = threads == nil ? Swift.max(1, ProcessInfo.processInfo.activeProcessorCount) : 1
        try runDistributed(distributed, threads: threads, workers: workers) { comm in
            // Text: the .tsv; PGD: the .png grid and the .tsv beside it (as AttackJob names them).
            let outputs =
                out.map { o in attack == .pgd ? [beside(o, dropping: ".png", adding: ".png"), beside(o, dropping: ".png", adding: ".tsv")] : [o] }
                ?? []
            try guardOutputs(outputs, inputs: [model, transferFrom], force: force)
            guard let lines = try AttackJob(try settings()).run(on: comm) else { return }
            for line in lines { print(line) }
        }
    }
}
