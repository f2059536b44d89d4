// A measured pilot of the recipes on a fine-tuned MiniLM classifier (not a timed test; off unless asked for):
//
//   EQUICERT_ATTACK_PILOT=Models/minilm-rt-sentiment.safetensors \
//   EQUICERT_ATTACK_PILOT_RECIPES=textfooler,pwws EQUICERT_ATTACK_PILOT_N=50 EQUICERT_ATTACK_PILOT_OUT=results/pilot \
//   OPENBLAS_NUM_THREADS=1 swift test --filter AttackPilot
//
// It attacks the first N texts of the checkpoint's own test split (the `.split` file beside it, the corpus from
// data/text) with each recipe at its default settings, prints the table (clean accuracy, accuracy under attack,
// success rate, mean queries, mean perturbed fraction and similarity over successes) and, with _OUT, writes the
// per-example records as TSV. Every result is checked against the constraints.
import Foundation
import NeuralNet
import Testing
import Transformers

@testable import Attacks

enum PilotSettings {
    static let environment = ProcessInfo.processInfo.environment
    static let checkpoint = environment["EQUICERT_ATTACK_PILOT"]
    static let recipes: [AttackRecipe] = (environment["EQUICERT_ATTACK_PILOT_RECIPES"] ?? "textfooler,pwws")
        .split(separator: ",").compactMap { try? AttackRecipe(named: String($0)) }
    static let count = Int(environment["EQUICERT_ATTACK_PILOT_N"] ?? "") ?? 50
    static let out = environment["EQUICERT_ATTACK_PILOT_OUT"]
    /// Optional overrides of the recipe defaults.
    static let maxFraction = environment["EQUICERT_ATTACK_PILOT_MAX_FRACTION"].flatMap { Double($0) }
    static let threshold = environment["EQUICERT_ATTACK_PILOT_THRESHOLD"].flatMap { Double($0) }
    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

@Suite("AttackPilot", .enabled(if: PilotSettings.checkpoint != nil, "set EQUICERT_ATTACK_PILOT=<MiniLM classifier checkpoint> to run the pilot"))
struct AttackPilot {
    /// The first `count` texts of the checkpoint's test split, with labels (class indices of the model).
    static func testTexts(checkpoint: URL, metadata: [String: String], classNames: [String], count: Int) throws -> [(String, Int)] {
        let data = try #require(metadata["equicert.data"])
        let corpus = PilotSettings.package.appendingPathComponent("data/text/\(data == "rt-sentiment" ? "rt-snippets" : data).tsv")
        let splitName = metadata["equicert.split-file"] ?? checkpoint.deletingPathExtension().lastPathComponent + ".split"
        let split = try String(contentsOf: checkpoint.deletingLastPathComponent().appendingPathComponent(splitName), encoding: .utf8)
        let testLine = try #require(split.split(separator: "\n").first { $0.hasPrefix("test ") })
        let indices = testLine.split(separator: " ").dropFirst().compactMap { Int($0) }
        let total = try #require(split.split(separator: "\n").first { $0.hasPrefix("count ") }.flatMap { Int($0.dropFirst(6)) })
        // Rows whose label is not a class (RT's "plot" summaries) are not part of the data set, as in Datasets.
        var rows: [(String, Int)] = []
        for line in try String(contentsOf: corpus, encoding: .utf8).split(separator: "\n").dropFirst() {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count == 3, let y = classNames.firstIndex(of: String(f[0])) else { continue }
            rows.append((String(f[2]), y))
        }
        try #require(rows.count == total, "corpus has \(rows.count) labelled rows, split says \(total)")
        return indices.prefix(count).map { rows[$0] }
    }

    @Test("pilot: recipes against the checkpoint at their default settings", arguments: PilotSettings.recipes)
    func pilot(recipe: AttackRecipe) throws {
        let url = URL(fileURLWithPath: try #require(PilotSettings.checkpoint), relativeTo: PilotSettings.package)
        let file = try SafeTensorsFile(contentsOf: url)
        let model = try TextClassifier.load(from: file, ignoringPrefixes: ["optimizer."])
        let maxLength = try #require(file.metadata["equicert.max-length"].flatMap { Int($0) })
        let examples = try Self.testTexts(checkpoint: url, metadata: file.metadata, classNames: model.classNames, count: PilotSettings.count)
        let defaults = try RecipeConfiguration(recipe: recipe)
        let configuration = try RecipeConfiguration(
            recipe: recipe, maxPerturbedFraction: PilotSettings.maxFraction ?? defaults.maxPerturbedFraction,
            similarityThreshold: PilotSettings.threshold ?? defaults.similarityThreshold)
        let encoder = try MiniLMSentenceEncoder(directory: try #require(MiniLMFixture.directory))
        let substitutes = WordNetSubstitutes(wordNet: try WordNetFixture.wordNet())
        let attack = try RecipeAttack(configuration, substitutes: substitutes, encoder: encoder)
        let victim = ClassifierVictim(model: model, maxLength: maxLength)
        let t0 = Date()
        var results: [TextAttackResult] = []
        for (i, (text, label)) in examples.enumerated() {
            let r = try attack.attack(text: text, label: label, index: i, victim: victim)
            results.append(r)
            // The constraints, on every example.
            #expect(r.queries <= configuration.queryBudget)
            #expect(r.wordsChanged <= configuration.maxChanged(visible: r.visibleWords))
            let words = TextWords(text)
            for s in r.substitutions ?? [] {
                let reading = substitutes.analysis(of: words.words, at: s.position)
                #expect(reading?.partOfSpeech == s.partOfSpeech && reading?.inflection == s.inflection)
                #expect(
                    substitutes.wordNet.analyses(of: s.replacement, s.partOfSpeech)
                        .contains(WordAnalysis(partOfSpeech: s.partOfSpeech, base: s.lemma, inflection: s.inflection)))
                if recipe == .textFooler { #expect(Double(s.windowSimilarity!) >= configuration.similarityThreshold) }
            }
        }
        let seconds = Date().timeIntervalSince(t0)
        let s = TextAttackSummary(results)
        let wins = results.filter(\.succeeded)
        let meanSimilarity = wins.isEmpty ? 0 : wins.map { Double($0.similarity ?? 0) }.reduce(0, +) / Double(wins.count)
        print(
            String(
                format:
                    "PILOT | %@ | max fraction %.2f, threshold %.2f | %@ | %d | clean %.1f%% | under attack %.1f%% | success %.1f%% | mean queries %.1f | "
                    + "perturbed %.1f%% | similarity %.3f | %.0f s", recipe.rawValue, configuration.maxPerturbedFraction,
                configuration.similarityThreshold, url.lastPathComponent, s.examples,
                100 * s.cleanAccuracy, 100 * s.robustAccuracy, 100 * s.successRate, s.meanQueries,
                100 * s.meanChangedFraction, meanSimilarity, seconds))
        if let out = PilotSettings.out {
            let dir = URL(fileURLWithPath: out, relativeTo: PilotSettings.package)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            var lines = ["idx\tlabel\tclean\tadversarial\tqueries\twords_changed\tvisible_words\tsimilarity\tsubstitutions\ttext\tadversarial_text"]
            for (r, (text, _)) in zip(results, examples) {
                let subs = (r.substitutions ?? []).map { "\($0.original)→\($0.replacement) (\($0.partOfSpeech.rawValue))" }.joined(separator: "; ")
                let clean = { (t: String) in t.replacingOccurrences(of: "\t", with: " ").replacingOccurrences(of: "\n", with: " ") }
                lines.append(
                    "\(r.index)\t\(r.label)\t\(r.cleanPrediction)\t\(r.adversarialPrediction)\t\(r.queries)\t\(r.wordsChanged)\t"
                        + "\(r.visibleWords)\t\(r.similarity.map { String(format: "%.4f", $0) } ?? "")\t\(subs)\t\(clean(text))\t\(clean(r.adversarialText))"
                )
            }
            try (lines.joined(separator: "\n") + "\n").write(
                to: dir.appendingPathComponent("\(recipe.rawValue).tsv"), atomically: true, encoding: .utf8)
        }
        #expect(s.examples == examples.count)
    }
}
