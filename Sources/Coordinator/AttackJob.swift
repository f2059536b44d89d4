import Attacks
import Datasets
import Distillation
import Distributed
import Foundation
import NeuralNet
import Reports
import RobustAttention
import TensorCore
import Transformers

/// Real attacks on the project's transformer checkpoints, with any attention rule installed. Text classifiers: the
/// published black-box recipes TextFooler, PWWS and DeepWordBug (`RecipeAttack`), and the project's earlier
/// embedding-neighbour substitution attack; ViTs: PGD (L∞ or L2, white-box through the model, the robust layer
/// included, or transferred from another model). Examples are spread over the ranks (strided `ShardPlan`); every
/// example's attack depends only on the example, the seed and the model, so the results are the same at any rank
/// count. The root gathers the results, builds the table and writes the report files.
///
/// The text attacks are adaptive to the attention rule: every victim query goes to the classifier with the rule
/// installed, so a robust layer is attacked through its own outputs, not through a vanilla stand-in.
public struct AttackJob {
    /// The attack methods; the checkpoint decides which ones apply.
    public enum Method: String, Sendable, CaseIterable {
        /// The published text recipes (`AttackRecipe`).
        case textFooler = "textfooler", pwws, deepWordBug = "deepwordbug"
        /// The project's earlier word attack: substitutes are the nearest WordPiece tokens of the classifier's own
        /// input embeddings (not TextFooler: no synonyms, no part of speech, no sentence similarity).
        case embeddingNeighbours = "embedding-neighbours"
        case pgd

        /// The recipe of a text recipe method (nil for `embedding-neighbours` and `pgd`).
        public var recipe: AttackRecipe? { AttackRecipe(rawValue: rawValue) }
    }

    /// The part of a text checkpoint's split that is attacked.
    public enum Part: String, Sendable, CaseIterable {
        case test, validation
        /// Test then validation: every example the classifier was not trained on.
        case heldOut = "held-out"
    }

    public struct Settings: Sendable {
        public var model: String
        public var method: Method
        /// Examples attacked (the first ones; 0 = all).
        public var max = 300
        public var part = Part.test
        public var seed: UInt64 = 0
        public var attention: RobustAttentionSettings
        public var calibrationCount: Int
        // Text.
        public var maxWordFraction = 0.25
        public var queryBudget = 2000
        /// Recipes: WordNet synonyms tried per word; TextFooler's sentence-similarity threshold and window.
        public var candidates = 50
        public var similarityThreshold = 0.7
        public var similarityWindow = 15
        /// The WordNet 3.0 database directory (nil: `WordNet.defaultDirectory`).
        public var wordNetDirectory: String?
        /// The sentence encoder's model directory (nil: the located `minilm` data directory).
        public var sentenceEncoder: String?
        /// embedding-neighbours: candidates per word and their cosine floor in the input-embedding space.
        public var neighbours = 30
        public var minSimilarity: Float = 0.5
        // PGD.
        public var norm = PGDAttack.Norm.linf
        public var epsilons: [Float] = [0.05, 0.1, 0.2]
        public var pgdSteps = 10
        public var stepFraction: Float = 0.25
        /// A ViT checkpoint to craft on, or "vanilla": the same checkpoint with plain attention.
        public var transferFrom: String?
        /// Text: the per-example report (.tsv), with `<base>.examples.jsonl` and the manifest `<base>.json` beside
        /// it; PGD: a .png grid of pairs at the largest ε and a .tsv of results.
        public var output: String?
        /// The command line, recorded in the text manifest.
        public var commandLine: String?

        public init(model: String, method: Method, attention: RobustAttentionSettings, calibrationCount: Int) {
            self.model = model; self.method = method; self.attention = attention; self.calibrationCount = calibrationCount
        }

        /// The recipe's configuration (nil for a method that is not a recipe); throws `AttackError` for a value
        /// out of range.
        public func recipeConfiguration() throws -> RecipeConfiguration? {
            guard let recipe = method.recipe else { return nil }
            return try RecipeConfiguration(
                recipe: recipe, maxPerturbedFraction: maxWordFraction, queryBudget: queryBudget, candidateCount: candidates,
                similarityThreshold: similarityThreshold, similarityWindow: similarityWindow, seed: seed)
        }
    }

    public let settings: Settings

    public init(_ settings: Settings) { self.settings = settings }

    /// Runs on every rank; returns the root's report lines (nil elsewhere).
    public func run(on comm: any Communicator) throws -> [String]? {
        switch CheckpointKind.detect(settings.model) {
        case .textClassifier: return try attackText(comm)
        case .vit: return try attackImages(comm)
        case .deq, .mdeq:
            throw CoordinatorError.checkpoint(path: settings.model, reason: "not a text classifier or ViT checkpoint (attacks need a transformer)")
        }
    }

    // MARK: images

    /// One attacked image: its clean prediction and its prediction at each ε.
    struct ImageRow: Codable { var index: Int, label: Int, clean: Int, adversarial: [Int] }

    func attackImages(_ comm: any Communicator) throws -> [String]? {
        let s = settings
        guard s.method == .pgd else {
            throw CoordinatorError.invalidOption(name: "attack", value: s.method.rawValue, reason: "ViT checkpoints take pgd")
        }
        let budgets = s.epsilons
        guard !budgets.isEmpty, s.max >= 0, s.pgdSteps >= 1, s.stepFraction > 0 else {
            throw CoordinatorError.invalidOption(
                name: "epsilons/max/pgd-steps/step-fraction",
                value: "\(budgets.map { "\($0)" }.joined(separator: ","))/\(s.max)/\(s.pgdSteps)/\(s.stepFraction)",
                reason: "need at least one ε, max ≥ 0, steps ≥ 1, step fraction > 0")
        }
        if let out = s.output { try Self.checkWritable(out) }
        var (vit, p, source) = try ViTEvaluation.load(s.model)
        let rule = try RobustModels.install(s.attention, on: &vit, parameters: p, data: source, calibrationCount: s.calibrationCount)
        let target = ViTAttackTarget(model: vit, parameters: p, normalization: source.normalization)
        var crafter = target
        var crafterName = "the target (white box, \(s.attention.rule == .vanilla ? "plain" : s.attention.gradient.rawValue) gradient)"
        if let transferFrom = s.transferFrom {
            if transferFrom == "vanilla" {
                let (v2, p2, _) = try ViTEvaluation.load(s.model)
                crafter = ViTAttackTarget(model: v2, parameters: p2, normalization: source.normalization)
                crafterName = "the same checkpoint with plain attention (transfer)"
            } else {
                let (v2, p2, s2) = try ViTEvaluation.load(transferFrom)
                guard s2 == source, v2.configuration.imageHeight == vit.configuration.imageHeight,
                    v2.configuration.channels == vit.configuration.channels
                else {
                    throw CoordinatorError.modelDataMismatch(
                        model: transferFrom, data: source.rawValue, reason: "the transfer source was trained on \(s2.rawValue) or takes other images")
                }
                crafter = ViTAttackTarget(model: v2, parameters: p2, normalization: source.normalization)
                crafterName = "\(transferFrom) (transfer)"
            }
        }
        let test = try source.load(split: .test)
        let n = s.max > 0 ? Swift.min(s.max, test.count) : test.count
        let t0 = Date()
        var mine: [ImageRow] = []
        var gridPairs: [(Tensor, Tensor)] = []
        let batch = 50
        let myIndices = Array(ShardPlan.items(n, forRankOf: comm, layout: .strided))
        let bar = ProgressBar(label: "pgd", total: myIndices.count, unit: "img", enabled: comm.rank == 0)
        var start = 0
        while start < myIndices.count {
            let idx = Array(myIndices[start..<Swift.min(start + batch, myIndices.count)])
            let (x, labels) = test.batch(idx)
            let clean = target.logits(x).argmaxRows()
            var adversarial: [[Int]] = Array(repeating: [], count: idx.count)
            for (k, eps) in budgets.enumerated() {
                let pgd = try PGDAttack(norm: s.norm, epsilon: eps, stepSize: Swift.max(s.stepFraction * eps, 1e-6), steps: s.pgdSteps, seed: s.seed)
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
        let rows = try comm.allGatherEncoded(mine).sorted { $0.index < $1.index }
        guard comm.rank == 0 else { return nil }
        let total = Double(rows.count)
        let cleanAcc = Double(rows.filter { $0.clean == $0.label }.count) / total
        var lines = [
            "model \(s.model) (\(source.rawValue)); attention: \(rule)",
            "PGD-\(s.norm.rawValue), \(s.pgdSteps) steps of \(s.stepFraction)·ε, random start, seed \(s.seed); crafted on \(crafterName)",
            "",
            "| attention | gradient | ε | clean acc | robust acc | examples |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for (k, eps) in budgets.enumerated() {
            let robust = Double(rows.filter { $0.adversarial[k] == $0.label }.count) / total
            let gradient = s.transferFrom != nil ? "transfer" : s.attention.rule == .vanilla ? "full" : s.attention.gradient.rawValue
            lines.append(
                String(
                    format: "| %@ | %@ | %.4g | %.1f%% | %.1f%% | %d |", s.attention.rule.rawValue, gradient, eps, 100 * cleanAcc,
                    100 * robust, rows.count))
        }
        lines.append(String(format: "\n%.0f s", Date().timeIntervalSince(t0)))
        if let out = s.output {
            var tsvLines = ["idx\tlabel\tclean\t" + budgets.map { "eps=\($0)" }.joined(separator: "\t")]
            for r in rows { tsvLines.append("\(r.index)\t\(r.label)\t\(r.clean)\t" + r.adversarial.map(String.init).joined(separator: "\t")) }
            let tsv = out.hasSuffix(".png") ? String(out.dropLast(4)) + ".tsv" : out + ".tsv"
            try AtomicFile.write((tsvLines.joined(separator: "\n") + "\n").data(using: .utf8)!, to: tsv)
            let png = out.hasSuffix(".png") ? out : out + ".png"
            try AtomicFile.write(Self.pairGrid(gridPairs, height: vit.configuration.imageHeight, width: vit.configuration.imageWidth), to: png)
            lines.append("per-example results → \(tsv); clean/adversarial pairs at ε = \(budgets.last!) → \(png)")
        }
        return lines
    }

    /// Rows of (clean, adversarial) pairs, 8 pairs per row, 1-pixel gaps, grey scale (first channel).
    static func pairGrid(_ pairs: [(Tensor, Tensor)], height h: Int, width w: Int) -> Data {
        let perRow = 8, rows = Swift.max(1, (pairs.count + perRow - 1) / perRow)
        let gw = perRow * (2 * w + 3), gh = rows * (h + 1)
        var pixels = [UInt8](repeating: 255, count: gw * gh)
        for (k, (a, b)) in pairs.enumerated() {
            let r = k / perRow, c = k % perRow
            for (m, t) in [a, b].enumerated() {
                let ch = t.count / (h * w)
                for y in 0..<h {
                    for x in 0..<w {
                        let v = Swift.min(Swift.max(t.scalars[(y * w + x) * ch], 0), 1)
                        pixels[(r * (h + 1) + y) * gw + c * (2 * w + 3) + m * (w + 1) + x] = UInt8((v * 255).rounded())
                    }
                }
            }
        }
        return PNGEncoder.encode(width: gw, height: gh, channels: 1, pixels: pixels)
    }

    /// The directory of `path` must exist and be writable (checked before any work).
    static func checkWritable(_ path: String) throws {
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard FileManager.default.isWritableFile(atPath: dir.isEmpty ? "." : dir) else {
            throw CoordinatorError.output(path: path, reason: "its directory does not exist or is not writable")
        }
    }
}
