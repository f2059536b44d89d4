import ArgumentParser
import Attacks
import Coordinator
import Datasets
import Distillation
import Distributed
import Foundation
import NeuralNet
import Reports
import RobustAttention
import TensorCore
import Transformers

/// `equicert attack`: real attacks on the project's transformer checkpoints, with any attention rule installed.
/// Text classifiers: `deepwordbug` / `textfooler` (black-box). ViTs: `pgd` (L∞ or L2, white-box through the model,
/// the robust layer included; `--attention-gradient detached`; `--transfer-from` crafts on another model).
/// Examples are sharded over ranks under mpirun; the root prints the table and writes the examples.
struct AttackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "attack",
        abstract: "Attack a transformer checkpoint (text: deepwordbug, textfooler; ViT: pgd) with any attention rule; table + adversarial examples.")

    @Option(help: "Checkpoint: a MiniLM text classifier or a ViT.") var model: String
    @Option(help: "Attack: deepwordbug or textfooler (text), pgd (images).") var attack: String
    @Option(help: "Examples attacked (the first ones of the part; 0 = all).") var max: Int = 300
    @Option(help: "Text: part of the checkpoint's split attacked: test, validation, or held-out (test then validation; neither is trained on).")
    var part: String = "test"
    @Option(help: "Seed (random starts, character edits).") var seed: UInt64 = 0
    @OptionGroup var attention: AttentionOptions
    // Text attacks.
    @Option(help: "Text: at most this fraction of the visible words is changed.") var maxWordFraction: Double = 0.25
    @Option(help: "Text: model queries per example.") var queryBudget: Int = 2000
    @Option(help: "textfooler: substitute candidates per word.") var neighbours: Int = 30
    @Option(help: "textfooler: cosine floor of a substitute in the input-embedding space.") var minSimilarity: Float = 0.5
    // PGD.
    @Option(help: "pgd: norm linf or l2.") var norm: String = "linf"
    @Option(help: "pgd: budgets ε in [0, 1] pixel units, comma-separated (e.g. 0.05,0.1,0.2).") var epsilons: String = "0.05,0.1,0.2"
    @Option(help: "pgd: steps.") var pgdSteps: Int = 10
    @Option(help: "pgd: step size as a multiple of ε (α = r·ε).") var stepFraction: Float = 0.25
    @Option(help: "pgd: craft the examples on this model instead (a ViT checkpoint, or 'vanilla' = the same checkpoint with plain attention) and test them on the target.")
    var transferFrom: String?
    @Option(name: .shortAndLong, help: "Where the adversarial examples go (text: .tsv; pgd: .png grid of clean/adversarial pairs at the largest ε, plus a .tsv of per-example results).")
    var out: String?
    @Option(help: "auto (MPI when launched by mpirun), off, or mpi.") var distributed: DistributedChoice = .auto
    @Option(help: "OpenBLAS threads per rank.") var threads: Int?

    func run() throws {
        // Without MPI: one in-process rank per core with one BLAS thread each (the per-head GEMMs are tiny, and a
        // 2-thread OpenBLAS on them was 15× slower on a busy machine than 1 thread).
        let workers = threads == nil ? Swift.max(1, ProcessInfo.processInfo.activeProcessorCount) : 1
        try runDistributed(distributed, threads: threads, workers: workers) { comm in
            if TextCheckpoint.isTextClassifier(model) { try attackText(comm) }
            else if ViTEvaluation.isViT(model) { try attackImages(comm) }
            else { throw CoordinatorError.checkpoint(path: model, reason: "not a text classifier or ViT checkpoint (attacks need a transformer)") }
        }
    }

    /// Strided shard of `count` examples for this rank, and the root's gather of every rank's encoded results.
    func gather<T: Codable>(_ mine: [T], _ comm: any Communicator) throws -> [T] {
        let bytes = Array(try JSONEncoder().encode(mine))
        let all = try comm.allGather(bytes)
        return try all.flatMap { try JSONDecoder().decode([T].self, from: Data($0)) }
    }

    // MARK: text

    func attackText(_ comm: any Communicator) throws {
        guard let kind = TextAttackKind(rawValue: attack) else {
            throw CoordinatorError.invalidOption(name: "attack", value: attack, reason: "text classifiers take deepwordbug or textfooler")
        }
        guard max >= 0 else { throw CoordinatorError.invalidOption(name: "max", value: "\(max)", reason: "must be ≥ 0") }
        let config = try TextAttackConfiguration(kind: kind, maxWordFraction: maxWordFraction, queryBudget: queryBudget,
                                                 neighbourCount: neighbours, minimumSimilarity: minSimilarity, seed: seed)
        let settings = try attention.settings()
        if let out { try checkWritable(out) }
        var loaded = try TextCheckpoint.load(model)
        var (texts, labels) = try TextCheckpoint.examples(loaded, part: part == "validation" ? .validation : .test)
        switch part {
        case "test", "validation": break
        case "held-out":
            let v = try TextCheckpoint.examples(loaded, part: .validation)
            texts += v.texts; labels += v.labels
        default: throw CoordinatorError.invalidOption(name: "part", value: part, reason: "expected test, validation or held-out")
        }
        let n = max > 0 ? Swift.min(max, texts.count) : texts.count
        let rule = try RobustModels.install(settings, on: &loaded, calibrationCount: attention.calibrationExamples)
        let neighbourIndex: EmbeddingNeighbours? = kind == .textFooler
            ? EmbeddingNeighbours(tokenizer: loaded.model.tokenizer,
                                  embeddings: loaded.model.parameters.tensor(loaded.model.parameters.slot(named: "embeddings.word_embeddings.weight")!))
            : nil
        let attacker = TextAttack(config, neighbours: neighbourIndex)
        let victim = ClassifierVictim(model: loaded.model, maxLength: loaded.maxLength)
        let t0 = Date()
        var mine: [TextAttackResult] = []
        let bar = ProgressBar(label: "attack", total: (n - comm.rank + comm.size - 1) / comm.size, unit: "ex", enabled: comm.rank == 0)
        for i in stride(from: comm.rank, to: n, by: comm.size) {
            mine.append(attacker.attack(text: texts[i], label: labels[i], index: i, victim: victim))
            let s = TextAttackSummary(mine)
            bar.update(mine.count, String(format: "clean %.1f%% attacked %.1f%%", 100 * s.cleanAccuracy, 100 * s.robustAccuracy))
        }
        let results = try gather(mine, comm).sorted { $0.index < $1.index }
        guard comm.rank == 0 else { return }
        let s = TextAttackSummary(results)
        print("model \(model) (\(loaded.dataSet.rawValue) \(part), max length \(loaded.maxLength)); attention: \(rule)")
        print("attack \(kind.rawValue): at most \(maxWordFraction) of the visible words, \(queryBudget) queries per example"
              + (kind == .textFooler ? ", \(neighbours) neighbours with cosine ≥ \(minSimilarity)" : "") + ", seed \(seed)")
        print("")
        print("| attention | examples | clean acc | acc under attack | success rate | mean queries | words changed (successes) | time |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        print(String(format: "| %@ | %d | %.1f%% | %.1f%% | %.1f%% | %.0f | %.1f%% | %.0f s |", settings.rule.rawValue, s.examples,
                     100 * s.cleanAccuracy, 100 * s.robustAccuracy, 100 * s.successRate, s.meanQueries,
                     100 * s.meanChangedFraction, Date().timeIntervalSince(t0)))
        if let out {
            var lines = ["idx\tlabel\tclean\tadversarial\tqueries\twords_changed\tvisible_words\tadversarial_text"]
            for r in results {
                let text = r.adversarialText.replacingOccurrences(of: "\t", with: " ").replacingOccurrences(of: "\n", with: " ")
                lines.append("\(r.index)\t\(r.label)\t\(r.cleanPrediction)\t\(r.adversarialPrediction)\t\(r.queries)\t\(r.wordsChanged)\t\(r.visibleWords)\t\(text)")
            }
            try writeAtomically((lines.joined(separator: "\n") + "\n").data(using: .utf8)!, to: out)
            print("\nadversarial examples → \(out)")
        }
    }

    // MARK: images

    struct ImageRow: Codable { var index: Int, label: Int, clean: Int, adversarial: [Int] }

    func attackImages(_ comm: any Communicator) throws {
        guard attack == "pgd" else {
            throw CoordinatorError.invalidOption(name: "attack", value: attack, reason: "ViT checkpoints take pgd")
        }
        guard let pgdNorm = PGDAttack.Norm(rawValue: norm) else {
            throw CoordinatorError.invalidOption(name: "norm", value: norm, reason: "expected linf or l2")
        }
        let budgets = try epsilons.split(separator: ",").map { t -> Float in
            guard let e = Float(t.trimmingCharacters(in: .whitespaces)), e >= 0, e.isFinite else {
                throw CoordinatorError.invalidOption(name: "epsilons", value: epsilons, reason: "expected non-negative numbers, comma-separated")
            }
            return e
        }
        guard !budgets.isEmpty, max >= 0, pgdSteps >= 1, stepFraction > 0 else {
            throw CoordinatorError.invalidOption(name: "epsilons/max/pgd-steps/step-fraction", value: "\(epsilons)/\(max)/\(pgdSteps)/\(stepFraction)",
                                                 reason: "need at least one ε, max ≥ 0, steps ≥ 1, step fraction > 0")
        }
        let settings = try attention.settings()
        if let out { try checkWritable(out) }
        var (vit, p, source) = try ViTEvaluation.load(model)
        let rule = try RobustModels.install(settings, on: &vit, parameters: p, data: source, calibrationCount: attention.calibrationExamples)
        let target = ViTAttackTarget(model: vit, parameters: p, normalization: source.normalization)
        var crafter = target
        var crafterName = "the target (white box, \(settings.rule == .vanilla ? "plain" : settings.gradient.rawValue) gradient)"
        if let transferFrom {
            if transferFrom == "vanilla" {
                let (v2, p2, _) = try ViTEvaluation.load(model)
                crafter = ViTAttackTarget(model: v2, parameters: p2, normalization: source.normalization)
                crafterName = "the same checkpoint with plain attention (transfer)"
            } else {
                let (v2, p2, s2) = try ViTEvaluation.load(transferFrom)
                guard s2 == source, v2.configuration.imageHeight == vit.configuration.imageHeight,
                      v2.configuration.channels == vit.configuration.channels else {
                    throw CoordinatorError.modelDataMismatch(model: transferFrom, data: source.rawValue, reason: "the transfer source was trained on \(s2.rawValue) or takes other images")
                }
                crafter = ViTAttackTarget(model: v2, parameters: p2, normalization: source.normalization)
                crafterName = "\(transferFrom) (transfer)"
            }
        }
        let test = try source.load(split: .test)
        let n = max > 0 ? Swift.min(max, test.count) : test.count
        let t0 = Date()
        var mine: [ImageRow] = []
        var gridPairs: [(Tensor, Tensor)] = []
        let batch = 50
        let myIndices = Array(stride(from: comm.rank, to: n, by: comm.size))
        let bar = ProgressBar(label: "pgd", total: myIndices.count, unit: "img", enabled: comm.rank == 0)
        var start = 0
        while start < myIndices.count {
            let idx = Array(myIndices[start..<Swift.min(start + batch, myIndices.count)])
            let (x, labels) = test.batch(idx)
            let clean = target.logits(x).argmaxRows()
            var adversarial: [[Int]] = Array(repeating: [], count: idx.count)
            for (k, eps) in budgets.enumerated() {
                let pgd = try PGDAttack(norm: pgdNorm, epsilon: eps, stepSize: Swift.max(stepFraction * eps, 1e-6), steps: pgdSteps, seed: seed)
                let adv = pgd.perturb(x, labels: labels, examples: idx, model: crafter)
                let pred = target.logits(adv).argmaxRows()
                for j in idx.indices { adversarial[j].append(pred[j]) }
                if k == budgets.count - 1 && comm.rank == 0 && gridPairs.count < 32 {
                    for j in idx.indices.prefix(32 - gridPairs.count) {
                        gridPairs.append((x.slice(rows: j..<(j + 1)), adv.slice(rows: j..<(j + 1))))
                    }
                }
            }
            for j in idx.indices { mine.append(ImageRow(index: idx[j], label: labels[j], clean: clean[j], adversarial: adversarial[j])) }
            start += idx.count
            bar.update(mine.count, "")
        }
        let rows = try gather(mine, comm).sorted { $0.index < $1.index }
        guard comm.rank == 0 else { return }
        let total = Double(rows.count)
        let cleanAcc = Double(rows.filter { $0.clean == $0.label }.count) / total
        print("model \(model) (\(source.rawValue)); attention: \(rule)")
        print("PGD-\(pgdNorm.rawValue), \(pgdSteps) steps of \(stepFraction)·ε, random start, seed \(seed); crafted on \(crafterName)")
        print("")
        print("| attention | gradient | ε | clean acc | robust acc | examples |")
        print("|---|---|---:|---:|---:|---:|")
        for (k, eps) in budgets.enumerated() {
            let robust = Double(rows.filter { $0.adversarial[k] == $0.label }.count) / total
            let gradient = transferFrom != nil ? "transfer" : settings.rule == .vanilla ? "full" : settings.gradient.rawValue
            print(String(format: "| %@ | %@ | %.4g | %.1f%% | %.1f%% | %d |", settings.rule.rawValue, gradient, eps, 100 * cleanAcc,
                         100 * robust, rows.count))
        }
        print(String(format: "\n%.0f s", Date().timeIntervalSince(t0)))
        if let out {
            var lines = ["idx\tlabel\tclean\t" + budgets.map { "eps=\($0)" }.joined(separator: "\t")]
            for r in rows { lines.append("\(r.index)\t\(r.label)\t\(r.clean)\t" + r.adversarial.map(String.init).joined(separator: "\t")) }
            let tsv = out.hasSuffix(".png") ? String(out.dropLast(4)) + ".tsv" : out + ".tsv"
            try writeAtomically((lines.joined(separator: "\n") + "\n").data(using: .utf8)!, to: tsv)
            let png = out.hasSuffix(".png") ? out : out + ".png"
            try writeAtomically(pairGrid(gridPairs, height: vit.configuration.imageHeight, width: vit.configuration.imageWidth), to: png)
            print("per-example results → \(tsv); clean/adversarial pairs at ε = \(budgets.last!) → \(png)")
        }
    }

    /// Rows of (clean, adversarial) pairs, 8 pairs per row, 1-pixel gaps, grey scale (first channel).
    func pairGrid(_ pairs: [(Tensor, Tensor)], height h: Int, width w: Int) -> Data {
        let perRow = 8, rows = Swift.max(1, (pairs.count + perRow - 1) / perRow)
        let gw = perRow * (2 * w + 3), gh = rows * (h + 1)
        var pixels = [UInt8](repeating: 255, count: gw * gh)
        for (k, (a, b)) in pairs.enumerated() {
            let r = k / perRow, c = k % perRow
            for (m, t) in [a, b].enumerated() {
                let ch = t.count / (h * w)
                for y in 0..<h { for x in 0..<w {
                    let v = Swift.min(Swift.max(t.scalars[(y * w + x) * ch], 0), 1)
                    pixels[(r * (h + 1) + y) * gw + c * (2 * w + 3) + m * (w + 1) + x] = UInt8((v * 255).rounded())
                } }
            }
        }
        return PNGEncoder.encode(width: gw, height: gh, channels: 1, pixels: pixels)
    }

    func checkWritable(_ path: String) throws {
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard FileManager.default.isWritableFile(atPath: dir.isEmpty ? "." : dir) else {
            throw CoordinatorError.output(path: path, reason: "its directory does not exist or is not writable")
        }
    }

    func writeAtomically(_ data: Data, to path: String) throws { try AtomicFile.write(data, to: path) }
}
