import Attacks
import Datasets
import Distributed
import Foundation
import Reports
import RobustAttention
import TensorCore
import Transformers

// MARK: text

extension AttackJob {
    /// The files of a text attack's report: `x.tsv` (per example), `x.examples.jsonl` (texts and substitutions) and
    /// `x.json` (the manifest). A name without `.tsv` gets the suffixes appended whole.
    public struct TextOutputs: Sendable, Equatable {
        public var report: String, examples: String, manifest: String

        public init(report: String) {
            let base = report.hasSuffix(".tsv") ? String(report.dropLast(4)) : report
            self.report = report; examples = base + ".examples.jsonl"; manifest = base + ".json"
        }

        public var all: [String] { [report, examples, manifest] }
    }

    /// One line of `x.examples.jsonl`: the original and adversarial text and the words changed.
    public struct ExampleRecord: Codable, Sendable, Equatable {
        public struct Change: Codable, Sendable, Equatable {
            /// Word position (`TextWords`), the original word and what replaced it.
            public var position: Int, original: String, replacement: String
            /// Word-substitution recipes: the part of speech, the replacement's lemma, and (TextFooler) the window
            /// similarity when the substitution was accepted.
            public var partOfSpeech: String?, lemma: String?, windowSimilarity: Float?
        }
        public var index: Int, label: Int, clean: Int, adversarial: Int
        public var success: Bool
        public var queries: Int
        public var perturbedFraction: Double
        /// Sentence similarity of the whole adversarial text to the original (recipes, attacked examples).
        public var similarity: Float?
        public var text: String, adversarialText: String
        public var substitutions: [Change]
    }

    /// The manifest of a text attack (`x.json`): what was attacked, the recipe with its constraints and
    /// thresholds, the figures of the table.
    public struct TextManifest: Codable, Sendable {
        public struct Constraints: Codable, Sendable, Equatable {
            public var maxPerturbedFraction: Double
            public var queryBudget: Int
            public var stopWordsSkipped: Bool
            /// TextFooler, PWWS: synonyms tried per word and where they come from.
            public var candidatesPerWord: Int?
            public var synonyms: String?
            /// TextFooler: the enforced threshold and window of the sentence-similarity constraint.
            public var similarityThreshold: Double?
            public var similarityWindowWords: Int?
            /// Every recipe: the encoder of the similarity (enforced by TextFooler, recorded by all).
            public var sentenceEncoder: String?
            /// embedding-neighbours: nearest input-embedding tokens per word and their cosine floor.
            public var embeddingNeighbours: Int?
            public var embeddingCosineFloor: Float?
            public var seed: UInt64
        }
        public struct Figures: Codable, Sendable, Equatable {
            public var examples: Int, cleanCorrect: Int, succeeded: Int
            public var cleanAccuracy: Double, accuracyUnderAttack: Double, successRate: Double
            /// Over attacked (clean-correct) examples.
            public var meanQueries: Double
            /// Over successful attacks.
            public var meanPerturbedFraction: Double
            public var meanSimilarity: Double?
        }
        public var tool = "equicert"
        public var version = EquicertVersion.string
        public var command: String?
        public var model: String
        public var modelSHA256: String?
        public var data: String
        public var part: String
        public var maxLength: Int
        public var attack: String
        public var recipe: String
        public var constraints: Constraints
        public var attention: String
        public var adaptive: String
        public var figures: Figures
        public var report: String, examples: String
        public var worldSize: Int
        public var wallSeconds: Double
    }

    static let adaptiveNote =
        "adaptive: every query goes to the classifier with its attention rule installed (the robust layer is attacked through its own outputs)"

    /// The recipe or attack in one line, with its constraints and thresholds.
    static func textAttackDescription(_ s: Settings, recipe: RecipeConfiguration?, wordNet: String, encoder: String?) -> String {
        let budget = "≤ \(s.maxWordFraction) of the visible words changed, \(s.queryBudget) queries per example"
        let synonyms = "≤ \(s.candidates) WordNet 3.0 synonyms per word (\(wordNet)) in its part of speech and inflection, stop words skipped"
        let recorded = encoder.map { "; similarity recorded (MiniLM sentence cosine, \($0))" } ?? ""
        switch recipe?.recipe {
        case .textFooler?:
            return "TextFooler (Jin et al., AAAI 2020): words by deletion importance; \(synonyms); a candidate reaches the model only if "
                + "the MiniLM sentence cosine of its \(s.similarityWindow)-word window is ≥ \(s.similarityThreshold) (\(encoder ?? "?")); \(budget)"
        case .pwws?:
            return "PWWS (Ren et al., ACL 2019): words by softmax(saliency) × best-substitute drop; \(synonyms); no similarity threshold; "
                + "\(budget)\(recorded)"
        case .deepWordBug?:
            return "DeepWordBug (Gao et al. 2018): words by deletion importance; one seeded character edit per word (swap, substitute, "
                + "delete, insert), seed \(s.seed); no similarity threshold; \(budget)\(recorded)"
        case nil:
            return "embedding-neighbours (the project's earlier attack, not TextFooler): words by deletion importance; ≤ \(s.neighbours) "
                + "nearest WordPiece tokens of the classifier's input embeddings with cosine ≥ \(s.minSimilarity), stop words skipped; \(budget)"
        }
    }

    /// The words changed between a text and its attacked version, position by position (DeepWordBug's edits and
    /// embedding-neighbour substitutions keep the word count; otherwise none are listed).
    static func changedWords(_ text: String, _ adversarial: String) -> [ExampleRecord.Change] {
        let a = TextWords(text), b = TextWords(adversarial)
        guard a.count == b.count else { return [] }
        return a.words.indices.filter { a.words[$0] != b.words[$0] }.map {
            ExampleRecord.Change(position: $0, original: a.words[$0], replacement: b.words[$0])
        }
    }

    static func record(_ r: TextAttackResult, text: String) -> ExampleRecord {
        let changes =
            r.substitutions.map { subs in
                subs.map {
                    ExampleRecord.Change(
                        position: $0.position, original: $0.original, replacement: $0.replacement,
                        partOfSpeech: $0.partOfSpeech.rawValue, lemma: $0.lemma, windowSimilarity: $0.windowSimilarity)
                }
            } ?? changedWords(text, r.adversarialText)
        return ExampleRecord(
            index: r.index, label: r.label, clean: r.cleanPrediction, adversarial: r.adversarialPrediction, success: r.succeeded,
            queries: r.queries, perturbedFraction: r.perturbedFraction, similarity: r.similarity, text: text,
            adversarialText: r.adversarialText, substitutions: changes)
    }

    /// The per-example report: one row per example, in example order.
    static func reportTSV(_ records: [ExampleRecord]) -> String {
        var rows = ["idx\tlabel\tclean\tadversarial\tsuccess\tqueries\tperturbed_fraction\tsimilarity\tsubstitutions"]
        for r in records {
            let similarity = r.similarity.map { String(format: "%.4f", $0) } ?? ""
            rows.append(
                "\(r.index)\t\(r.label)\t\(r.clean)\t\(r.adversarial)\t\(r.success ? 1 : 0)\t\(r.queries)\t"
                    + String(format: "%.4f", r.perturbedFraction) + "\t\(similarity)\t\(r.substitutions.count)")
        }
        return rows.joined(separator: "\n") + "\n"
    }

    /// Every attacked text must have a word (checked on all ranks before any work, so none is left waiting).
    public static func checkTexts(_ texts: [String], count: Int) throws {
        for i in 0..<count where TextWords(texts[i]).count == 0 { throw AttackError.emptyText(index: i) }
    }

    func attackText(_ comm: any Communicator) throws -> [String]? {
        let s = settings
        guard s.method != .pgd else {
            throw CoordinatorError.invalidOption(
                name: "attack", value: s.method.rawValue, reason: "text classifiers take textfooler, pwws, deepwordbug or embedding-neighbours")
        }
        guard s.max >= 0 else { throw CoordinatorError.invalidOption(name: "max", value: "\(s.max)", reason: "must be ≥ 0") }
        // Settings and resources first: a bad value or a missing database fails before the checkpoint is read.
        let recipe = try s.recipeConfiguration()
        let legacy: TextAttackConfiguration? =
            recipe == nil
            ? try TextAttackConfiguration(
                kind: .textFooler, maxWordFraction: s.maxWordFraction, queryBudget: s.queryBudget,
                neighbourCount: s.neighbours, minimumSimilarity: s.minSimilarity, seed: s.seed)
            : nil
        let outputs = s.output.map(TextOutputs.init(report:))
        if let out = s.output { try Self.checkWritable(out) }
        let wordNetURL = URL(fileURLWithPath: s.wordNetDirectory ?? WordNet.defaultDirectory.path)
        let substitutes: WordNetSubstitutes? =
            recipe != nil && recipe?.recipe != .deepWordBug ? WordNetSubstitutes(wordNet: try WordNet(directory: wordNetURL)) : nil
        var encoderDirectory: URL? = nil
        var encoder: MiniLMSentenceEncoder? = nil
        if recipe != nil {
            let required = ["config.json", "vocab.txt", "model.safetensors"]
            let dir: URL
            if let given = s.sentenceEncoder {
                dir = URL(fileURLWithPath: given)
            } else {
                do { dir = try DataLocator.process.locate("minilm", requiring: required) } catch {
                    throw CoordinatorError.invalidOption(
                        name: "sentence-encoder", value: "(not given)",
                        reason: "the recipes need all-MiniLM-L6-v2 and it was not found (\(error)); pass its directory")
                }
            }
            for f in required where !FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path) {
                throw CoordinatorError.invalidOption(
                    name: "sentence-encoder", value: dir.path, reason: "no \(f) there (all-MiniLM-L6-v2: run Scripts/setup)")
            }
            encoderDirectory = dir
            encoder = try MiniLMSentenceEncoder(directory: dir)
        }

        var loaded = try TextCheckpoint.load(s.model)
        var (texts, labels) = try TextCheckpoint.examples(loaded, part: s.part == .validation ? .validation : .test)
        if s.part == .heldOut {
            let v = try TextCheckpoint.examples(loaded, part: .validation)
            texts += v.texts; labels += v.labels
        }
        let n = s.max > 0 ? Swift.min(s.max, texts.count) : texts.count
        try Self.checkTexts(texts, count: n)
        let rule = try RobustModels.install(s.attention, on: &loaded, calibrationCount: s.calibrationCount)
        let victim = ClassifierVictim(model: loaded.model, maxLength: loaded.maxLength)
        let attackOne: (Int) throws -> TextAttackResult
        if let recipe {
            let attack = try RecipeAttack(recipe, substitutes: substitutes, encoder: encoder)
            attackOne = { i in try attack.attack(text: texts[i], label: labels[i], index: i, victim: victim) }
        } else {
            let neighbourIndex = EmbeddingNeighbours(
                tokenizer: loaded.model.tokenizer,
                embeddings: loaded.model.parameters.tensor(loaded.model.parameters.slot(named: "embeddings.word_embeddings.weight")!))
            let attack = TextAttack(legacy!, neighbours: neighbourIndex)
            attackOne = { i in attack.attack(text: texts[i], label: labels[i], index: i, victim: victim) }
        }
        let t0 = Date()
        var mine: [TextAttackResult] = []
        let myExamples = Array(ShardPlan.items(n, forRankOf: comm, layout: .strided))
        let bar = ProgressBar(label: s.method.rawValue, total: myExamples.count, unit: "ex", enabled: comm.rank == 0)
        for i in myExamples {
            mine.append(try attackOne(i))
            let summary = TextAttackSummary(mine)
            bar.update(mine.count, String(format: "clean %.1f%% attacked %.1f%%", 100 * summary.cleanAccuracy, 100 * summary.robustAccuracy))
        }
        let results = try comm.allGatherEncoded(mine).sorted { $0.index < $1.index }
        guard comm.rank == 0 else { return nil }
        let seconds = Date().timeIntervalSince(t0)
        let summary = TextAttackSummary(results)
        let wins = results.filter(\.succeeded)
        let similarities = wins.compactMap(\.similarity)
        let meanSimilarity = similarities.isEmpty ? nil : similarities.map(Double.init).reduce(0, +) / Double(similarities.count)
        let description = Self.textAttackDescription(s, recipe: recipe, wordNet: wordNetURL.path, encoder: encoderDirectory?.path)
        var lines = [
            "model \(s.model) (\(loaded.dataSet.rawValue) \(s.part.rawValue), max length \(loaded.maxLength)); attention: \(rule)",
            "attack \(s.method.rawValue) — \(description)",
            Self.adaptiveNote,
            "",
            "| attack | attention | examples | clean acc | acc under attack | success rate | mean queries | perturbed (successes) | similarity (successes) | time |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            String(
                format: "| %@ | %@ | %d | %.1f%% | %.1f%% | %.1f%% | %.1f | %.1f%% | %@ | %.0f s |", s.method.rawValue,
                s.attention.rule.rawValue, summary.examples, 100 * summary.cleanAccuracy, 100 * summary.robustAccuracy,
                100 * summary.successRate, summary.meanQueries, 100 * summary.meanChangedFraction,
                meanSimilarity.map { String(format: "%.3f", $0) } ?? "–", seconds),
        ]
        if let outputs {
            let records = results.map { Self.record($0, text: texts[$0.index]) }
            try AtomicFile.write(Data(Self.reportTSV(records).utf8), to: outputs.report)
            let encoderJSON = JSONEncoder()
            encoderJSON.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            var jsonl = Data()
            for r in records {
                jsonl += try encoderJSON.encode(r)
                jsonl += Data("\n".utf8)
            }
            try AtomicFile.write(jsonl, to: outputs.examples)
            let constraints = TextManifest.Constraints(
                maxPerturbedFraction: s.maxWordFraction, queryBudget: s.queryBudget, stopWordsSkipped: s.method != .deepWordBug,
                candidatesPerWord: substitutes == nil ? nil : s.candidates,
                synonyms: substitutes == nil ? nil : "WordNet 3.0 (\(wordNetURL.path)), part of speech and inflection kept",
                similarityThreshold: recipe?.recipe == .textFooler ? s.similarityThreshold : nil,
                similarityWindowWords: recipe?.recipe == .textFooler ? s.similarityWindow : nil,
                sentenceEncoder: encoderDirectory.map { "cosine of mean-pooled all-MiniLM-L6-v2 embeddings (\($0.path))" },
                embeddingNeighbours: recipe == nil ? s.neighbours : nil, embeddingCosineFloor: recipe == nil ? s.minSimilarity : nil,
                seed: s.seed)
            let figures = TextManifest.Figures(
                examples: summary.examples, cleanCorrect: summary.cleanCorrect, succeeded: summary.succeeded,
                cleanAccuracy: summary.cleanAccuracy, accuracyUnderAttack: summary.robustAccuracy, successRate: summary.successRate,
                meanQueries: summary.meanQueries, meanPerturbedFraction: summary.meanChangedFraction, meanSimilarity: meanSimilarity)
            let manifest = TextManifest(
                command: s.commandLine, model: s.model, modelSHA256: SHA256.hex(file: s.model), data: loaded.dataSet.rawValue,
                part: s.part.rawValue, maxLength: loaded.maxLength, attack: s.method.rawValue, recipe: description,
                constraints: constraints, attention: rule, adaptive: Self.adaptiveNote, figures: figures, report: outputs.report,
                examples: outputs.examples, worldSize: comm.size, wallSeconds: seconds)
            let pretty = JSONEncoder()
            pretty.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try AtomicFile.write(try pretty.encode(manifest) + Data("\n".utf8), to: outputs.manifest)
            lines.append("\nper-example report → \(outputs.report); texts and substitutions → \(outputs.examples); manifest → \(outputs.manifest)")
        }
        return lines
    }
}
