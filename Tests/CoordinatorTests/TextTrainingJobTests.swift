import Coordinator
import Datasets
import Distributed
import Foundation
import Testing

@Suite("Text classifier fine-tuning job")
struct TextTrainingJobTests {
    /// A temporary directory with a WordPiece vocabulary of the specials plus every lowercase word of `texts`.
    static func scratchDirectory(texts: [String]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("textjob-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var words = Set<String>()
        for t in texts {
            for w in t.lowercased().split(whereSeparator: { !$0.isLetter }) { words.insert(String(w)) }
        }
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + words.sorted()
        try Data(vocab.joined(separator: "\n").utf8).write(to: dir.appendingPathComponent("vocab.txt"))
        return dir
    }

    @Test("a tiny random encoder on 40 BBC articles: loss decreases over 2 epochs, split file and checkpoint round-trip")
    func tinyBBC() throws {
        let data = try TextDataSource.bbcNews.load(limit: 40)
        #expect(data.count == 40 && Set(data.labels).count == 5)
        let dir = try Self.scratchDirectory(texts: data.texts)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("run/bbc.safetensors").path
        var o = TextTrainingJob.Options(data: .bbcNews, epochs: 2, output: out)
        o.encoder = .scratch(
            hiddenSize: 16, layerCount: 1, headCount: 2, intermediateSize: 32,
            vocabulary: dir.appendingPathComponent("vocab.txt").path)
        o.limit = 40; o.batchSize = 8; o.learningRate = 3e-3; o.warmupSteps = 0; o.maxLength = 32; o.seed = 5
        o.showProgress = false
        var lines: [String] = []
        let s = try TextTrainingJob(o).run { lines.append($0) }
        #expect(s.trainLoss.count == 2 && s.trainLoss[1] < s.trainLoss[0], "losses \(s.trainLoss)")
        #expect(s.counts.train + s.counts.validation + s.counts.test == 40 && s.counts.test == 5)
        #expect(s.truncated.train > 0)  // BBC articles are far longer than 32 tokens, and that is reported
        #expect(lines.contains { $0.contains("truncated train \(s.truncated.train)/\(s.counts.train)") })
        // The split file beside the checkpoint reads back to the same stratified split of the same labels.
        #expect(s.splitPath == dir.appendingPathComponent("run/bbc.split").path)
        let split = try StratifiedSplit.read(from: s.splitPath)
        try split.check(labels: data.labels, path: s.splitPath)
        let again = try StratifiedSplit(labels: data.labels, train: 0.8, validation: 0.1, test: 0.1, seed: 5)
        #expect(split == again)
        // `evaluate` on the checkpoint reproduces the job's final test accuracy.
        #expect(TextCheckpoint.isTextClassifier(out))
        let loaded = try TextCheckpoint.load(out)
        #expect(loaded.dataSet == .bbcNews && loaded.maxLength == 32 && loaded.limit == 40)
        #expect(loaded.metadata["equicert.epochs-done"] == "2" && loaded.metadata["equicert.train.test-accuracy"] != nil)
        let e = try TextCheckpoint.evaluate(loaded)
        #expect(e.result.count == 5 && abs(e.result.accuracy - s.testAccuracy) < 1e-12)
        #expect(e.truncated == s.truncated.test)
    }

    @Test("data-parallel over 2 and 3 ranks: the same losses and accuracies as one process (float tolerance)")
    func dataParallel() throws {
        let data = try TextDataSource.bbcNews.load(limit: 40)
        let dir = try Self.scratchDirectory(texts: data.texts)
        defer { try? FileManager.default.removeItem(at: dir) }
        var reference: TextTrainingJob.Summary?
        for size in 1...3 {
            var o = TextTrainingJob.Options(data: .bbcNews, epochs: 2, output: dir.appendingPathComponent("m\(size).safetensors").path)
            o.encoder = .scratch(
                hiddenSize: 16, layerCount: 1, headCount: 2, intermediateSize: 32,
                vocabulary: dir.appendingPathComponent("vocab.txt").path)
            o.limit = 40; o.batchSize = 8; o.learningRate = 3e-3; o.warmupSteps = 0; o.maxLength = 32; o.seed = 5
            o.showProgress = false
            let job = o
            let summaries = try ThreadGroup.run(size: size, timeout: 120) { comm in try TextTrainingJob(job).run(on: comm) { _ in } }
            let s = summaries[0]
            #expect(summaries.allSatisfy { $0.trainLoss == s.trainLoss && $0.testAccuracy == s.testAccuracy })  // ranks agree
            guard let r = reference else { reference = s; continue }
            for (a, b) in zip(s.trainLoss, r.trainLoss) { #expect(abs(a - b) < 1e-4, "size \(size): \(s.trainLoss) vs \(r.trainLoss)") }
            #expect(s.validationAccuracy == r.validationAccuracy && s.testAccuracy == r.testAccuracy)
        }
    }

    @Test("bad input: unknown data set, max length < 2, too few documents, not a text checkpoint")
    func badInput() throws {
        #expect(throws: CoordinatorError.self) { try TextDataSource(parsing: "imdb") }
        let dir = try Self.scratchDirectory(texts: ["a b"])
        defer { try? FileManager.default.removeItem(at: dir) }
        var o = TextTrainingJob.Options(data: .bbcNews, epochs: 1, output: dir.appendingPathComponent("m.safetensors").path)
        o.encoder = .scratch(
            hiddenSize: 8, layerCount: 1, headCount: 2, intermediateSize: 8,
            vocabulary: dir.appendingPathComponent("vocab.txt").path)
        o.maxLength = 1
        #expect(throws: CoordinatorError.self) { try TextTrainingJob(o).run { _ in } }
        o.maxLength = 16; o.limit = 4  // four documents cannot give every part of the split a member
        #expect(throws: CoordinatorError.self) { try TextTrainingJob(o).run { _ in } }
        #expect(!FileManager.default.fileExists(atPath: o.output))
        #expect(!TextCheckpoint.isTextClassifier(dir.appendingPathComponent("vocab.txt").path))
        #expect(throws: CoordinatorError.self) { try TextCheckpoint.load(dir.appendingPathComponent("none.safetensors").path) }
    }
}
