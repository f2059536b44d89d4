import ArgumentParser
import Attacks
import Coordinator
import Foundation

/// `equicert attack`: real attacks on the project's transformer checkpoints, with any attention rule installed.
/// Text classifiers: the published black-box recipes `textfooler`, `pwws`, `deepwordbug` (and the project's earlier
/// `embedding-neighbours` attack); every query goes to the classifier with the attention rule installed, so a
/// robust layer is attacked adaptively, through its own outputs. ViTs: `pgd` (L∞ or L2, white-box through the
/// model, the robust layer included; `--attention-gradient detached`; `--transfer-from` crafts on another model).
/// Examples are sharded over ranks (the same results at any rank count); the root prints the table and writes the
/// report files.
struct AttackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attack",
        abstract:
            "Attack a transformer checkpoint (text: textfooler, pwws, deepwordbug, embedding-neighbours; ViT: pgd) with any attention rule; table + adversarial examples.",
        discussion: """
            Text recipes, as their papers name them (words of the attacked text only; stop words are never substituted):
              textfooler  Jin et al. 2020: words by deletion importance; WordNet 3.0 synonyms in the word's part of
                          speech and inflection; a candidate reaches the model only if the MiniLM sentence cosine of
                          its window (--similarity-window words) is at least --similarity-threshold.
              pwws        Ren et al. 2019: words by softmax(saliency) × the drop of their best WordNet synonym,
                          replaced in that order until the label flips.
              deepwordbug Gao et al. 2018: words by deletion importance, one seeded character edit each.
              embedding-neighbours  the project's earlier word attack (nearest WordPiece tokens of the classifier's
                          own input embeddings; not TextFooler), kept to reproduce earlier results.
            All four are black-box and adaptive: they query the classifier with the --attention rule installed.
            Every recipe records the MiniLM sentence similarity of each adversarial text to the original.
            With --out x.tsv: x.tsv (per example: clean and adversarial prediction, success, queries, perturbed
            fraction, similarity, substitutions), x.examples.jsonl (original and adversarial texts, substitutions)
            and x.json (manifest: recipe, constraints, thresholds, figures). A row's adversarial text is the
            attack's final text, also when it did not flip the label; the table's perturbed fraction and similarity
            are means over successful attacks.
            """)

    @Option(help: "Checkpoint: a MiniLM text classifier or a ViT.") var model: String
    @Option(help: "Attack: textfooler, pwws, deepwordbug or embedding-neighbours (text), pgd (images).") var attack: AttackJob.Method
    @Option(help: "Examples attacked (the first ones of the part; 0 = all).") var max: Int = 300
    @Option(help: "Text: part of the checkpoint's split attacked: test, validation, or held-out (test then validation; neither is trained on).")
    var part: AttackJob.Part = .test
    @Option(help: "Seed (random starts, character edits).") var seed: UInt64 = 0
    @OptionGroup var attention: AttentionOptions
    // Text attacks.
    @Option(
        help:
            "Text: at most this fraction of the visible words is changed, in (0, 1] (the project's budget; the papers set no cap, 1 lifts it)."
    )
    var maxWordFraction: Double = 0.25
    @Option(help: "Text: victim queries per example, the clean one included, ≥ 1.") var queryBudget: Int = 2000
    @Option(help: "textfooler, pwws: WordNet synonyms tried per word (TextFooler's N = 50).") var candidates: Int = 50
    @Option(
        help:
            "textfooler: sentence-similarity threshold in [0, 1], cosine of MiniLM sentence embeddings of the original and perturbed window (TextFooler's 0.7, on MiniLM's scale)."
    )
    var similarityThreshold: Double = 0.7
    @Option(help: "textfooler: words in the similarity window around the substituted word (TextFooler's 15).") var similarityWindow: Int = 15
    @Option(help: "textfooler, pwws: the WordNet 3.0 database directory (apt-get install wordnet-base).")
    var wordnet: String = WordNet.defaultDirectory.path
    @Option(help: "Text recipes: the sentence encoder, an all-MiniLM-L6-v2 directory (default: the located minilm data).")
    var sentenceEncoder: String?
    @Option(help: "embedding-neighbours: substitute candidates per word.") var neighbours: Int = 30
    @Option(help: "embedding-neighbours: cosine floor of a substitute in the input-embedding space.") var minSimilarity: Float = 0.5
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
            "Where the results go (text: x.tsv, with x.examples.jsonl and the manifest x.json beside it; pgd: .png grid of clean/adversarial pairs at the largest ε, plus a .tsv of per-example results)."
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
        s.candidates = candidates; s.similarityThreshold = similarityThreshold; s.similarityWindow = similarityWindow
        s.wordNetDirectory = wordnet; s.sentenceEncoder = sentenceEncoder
        s.commandLine = CommandLine.arguments.joined(separator: " ")
        s.norm = norm; s.epsilons = try budgets(); s.pgdSteps = pgdSteps; s.stepFraction = stepFraction
        s.transferFrom = transferFrom; s.output = out
        _ = try s.recipeConfiguration()  // out-of-range recipe settings fail here, before any work
        return s
    }

    func run() throws {
        // Without MPI: one in-process rank per core with one BLAS thread each (the per-head GEMMs are tiny, and a
        // 2-thread OpenBLAS on them was 15× slower on a busy machine than 1 thread).
        let workers = threads == nil ? Swift.max(1, ProcessInfo.processInfo.activeProcessorCount) : 1
        try runDistributed(distributed, threads: threads, workers: workers) { comm in
            // Text: the .tsv, .examples.jsonl and .json; PGD: the .png grid and the .tsv beside it (as AttackJob names them).
            let outputs =
                out.map { o in
                    attack == .pgd
                        ? [beside(o, dropping: ".png", adding: ".png"), beside(o, dropping: ".png", adding: ".tsv")]
                        : AttackJob.TextOutputs(report: o).all
                } ?? []
            try guardOutputs(outputs, inputs: [model, transferFrom], force: force)
            guard let lines = try AttackJob(try settings()).run(on: comm) else { return }
            for line in lines { print(line) }
        }
    }
}
