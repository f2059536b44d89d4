import ArgumentParser
import Coordinator
import Datasets
import Foundation
import RobustAttention
import TensorCore
import Transformers

/// `equicert bench-attention`: forward time of a transformer with robust attention against the number of IRLS
/// steps K (docs/models.md §3: cost ≈ (1 + K)× the attention core, the rest of the model unchanged).
///
/// Two models: a ViT checkpoint on a batch of its own test images (γ/δ calibrated on its training images, as
/// `evaluate --attention` does), and the pretrained MiniLM encoder + a classification head on random token ids
/// (batch × length; γ/δ calibrated on that batch: the values do not change the work). Each row is the best of
/// repeated forwards within `--seconds`, as a ratio to the vanilla forward measured in the same run.
struct BenchAttentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-attention",
        abstract: "Measure transformer forward time with robust attention against the IRLS steps K.")

    @Option(help: "ViT checkpoint (empty: skip the ViT).") var model: String = "Models/vit-fashion-mnist.safetensors"
    @Option(help: "ViT images per forward.") var batch: Int = 128
    @Flag(inversion: .prefixedNo, help: "Also the pretrained MiniLM encoder (needs the minilm data).") var minilm = true
    @Option(help: "MiniLM sequences per forward.") var textBatch: Int = 32
    @Option(help: "MiniLM tokens per sequence.") var length: Int = 128
    @Option(help: "Robust rules to time (comma-separated).") var rules: String = "mcp"
    @Option(help: "IRLS steps K to time (comma-separated).") var steps: String = "1,2,3,5"
    @Option(help: "OpenBLAS threads.") var threads: Int = 1
    @Option(help: "Seconds per measurement (best of repeated forwards).") var seconds: Double = 2

    func run() throws {
        try runReportingErrors {
            setBLASThreads(threads)
            let ruleList = try rules.split(separator: ",").map { s -> AttentionRule in
                guard let r = AttentionRule(rawValue: String(s)), r != .vanilla else {
                    throw CoordinatorError.invalidOption(name: "rules", value: String(s), reason: "expected l1, huber, mcp or huber-mcp")
                }
                return r
            }
            let ks = try steps.split(separator: ",").map { s -> Int in
                guard let k = Int(s), k >= 1 else {
                    throw CoordinatorError.invalidOption(name: "steps", value: String(s), reason: "expected IRLS step counts ≥ 1")
                }
                return k
            }
            guard batch >= 1, textBatch >= 1 else {
                throw CoordinatorError.invalidOption(name: "batch", value: "\(batch)/\(textBatch)", reason: "must be ≥ 1")
            }
            guard seconds > 0 else { throw CoordinatorError.invalidOption(name: "seconds", value: "\(seconds)", reason: "must be > 0") }
            print("OpenBLAS core \(BLAS.coreName), \(BLAS.threadCount) thread(s); best of repeated forwards within \(seconds) s\n")
            print("| model | input | attention | K | forward | ratio to vanilla |")
            print("|---|---|---|---:|---:|---:|")
            if !model.isEmpty { try benchViT(ruleList, ks) }
            if minilm { try benchMiniLM(ruleList, ks) }
        }
    }

    /// Times `forward` with vanilla attention, then with every (rule, K), installing each through `install`.
    private func table(
        _ name: String, _ input: String, _ ruleList: [AttentionRule], _ ks: [Int],
        install: (RobustAttentionSettings) throws -> Void, forward: () -> Void
    ) throws {
        try install(try RobustAttentionSettings(rule: .vanilla))
        let vanilla = BenchCommand.bestSeconds(budget: seconds, minimumRuns: 3, forward)
        print(String(format: "| %@ | %@ | vanilla | – | %.1f ms | 1.00 |", name, input, vanilla * 1e3))
        for rule in ruleList {
            for k in ks {
                try install(try RobustAttentionSettings(rule: rule, steps: k))
                let t = BenchCommand.bestSeconds(budget: seconds, minimumRuns: 3, forward)
                print(String(format: "| %@ | %@ | %@ | %d | %.1f ms | %.2f |", name, input, rule.rawValue, k, t * 1e3, t / vanilla))
            }
        }
    }

    private func benchViT(_ ruleList: [AttentionRule], _ ks: [Int]) throws {
        var (vit, p, source) = try ViTEvaluation.load(model)
        let test = try source.load(split: .test)
        let n = min(batch, test.count)
        var (x, _) = test.batch(Array(0..<n))
        ViTEvaluation.standardize(&x, source.normalization)
        let c = vit.configuration
        let tokens = (c.imageHeight / c.patchSize) * (c.imageWidth / c.patchSize) + 1
        try table(
            "ViT \(source.rawValue) (\(c.layerCount) blocks, d \(c.hiddenSize), \(c.headCount) heads)",
            "\(n) images × \(tokens) tokens", ruleList, ks,
            install: { settings in try RobustModels.install(settings, on: &vit, parameters: p, data: source, calibrationCount: 64) },
            forward: { _ = vit(x, p) })
    }

    private func benchMiniLM(_ ruleList: [AttentionRule], _ ks: [Int]) throws {
        let dir = try DataLocator.process.locate("minilm", requiring: ["config.json", "vocab.txt", "model.safetensors"])
        let encoder = try PretrainedEncoder(directory: dir)
        let c = encoder.configuration
        guard length >= 2 && length <= c.maxPositions else { throw TransformersError.badMaximumLength(value: length, limit: c.maxPositions) }
        var classifier = TextClassifier(pretrained: encoder, classNames: ["a", "b"])
        let tokens = EmbedCommand.randomTokens(encoder, batch: textBatch, length: length)
        try table(
            "MiniLM-L6 (\(c.layerCount) layers, H \(c.hiddenSize), \(c.headCount) heads)",
            "\(textBatch) × \(length) random tokens", ruleList, ks,
            install: { settings in try classifier.installRobustAttention(settings) { m in _ = m.logits(tokens) } },
            forward: { _ = classifier.logits(tokens) })
    }
}
