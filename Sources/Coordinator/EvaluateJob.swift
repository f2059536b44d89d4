import Equilibrium
import Foundation
import RobustAttention
import Transformers

/// `evaluate` on one process: the accuracy of any checkpoint kind. A DEQ: clean and noisy (N(0, σ²)) test
/// accuracy with solver statistics; a ViT: clean test accuracy; a text classifier: accuracy on a part of its own
/// split. Robust attention, when asked for, is installed on transformers first (a DEQ has no attention layers).
public struct EvaluateJob {
    public struct Settings: Sendable {
        public var model: String
        /// Data set name (nil: the checkpoint's).
        public var data: String?
        /// Directory of the data set's files (nil: the data locator's search).
        public var dataDirectory: String?
        /// DEQ: also write the per-image class, residual and logits of the clean images here (`PerImageOutputs`).
        public var outputs: String?
        public var attention: RobustAttentionSettings
        public var calibrationCount: Int
        /// Images evaluated (DEQ, ViT; 0 = all).
        public var max = 0
        /// DEQ: noise σ (nil: the checkpoint's training σ), the solver, its steps and the noise seed.
        public var sigma: Float?
        public var solver = SolverKind.anderson
        public var steps = 30
        public var seed: UInt64 = 0
        /// Text classifier: the part of its split, tokens per text (nil: the training length), the TSV's directory,
        /// texts per batch.
        public var textPart = TextCheckpoint.Part.test
        public var textMaxLength: Int?
        public var textDataDirectory: String?
        public var textBatch = 64

        public init(model: String, attention: RobustAttentionSettings, calibrationCount: Int) {
            self.model = model; self.attention = attention; self.calibrationCount = calibrationCount
        }
    }

    public let settings: Settings

    public init(_ settings: Settings) { self.settings = settings }

    /// The lines to print.
    public func run() throws -> [String] {
        switch CheckpointKind.detect(settings.model) {
        case .textClassifier: return try evaluateText()
        case .vit: return try evaluateViT()
        case .deq, .mdeq: return try evaluateDEQ()
        }
    }

    func evaluateDEQ() throws -> [String] {
        let s = settings
        guard s.attention.rule == .vanilla else {
            throw CoordinatorError.invalidOption(
                name: "attention", value: s.attention.rule.rawValue, reason: "\(s.model) is a DEQ: it has no attention layers")
        }
        let loaded = try CheckpointWithTestData(checkpoint: s.model, data: s.data, dataDirectory: s.dataDirectory)
        let (m, test, source) = (loaded.model, loaded.test, loaded.source)
        let sigma = s.sigma ?? loaded.provenance.sigma
        if s.sigma == nil && !sigma.isFinite {
            throw CoordinatorError.invalidOption(
                name: "sigma", value: "(none)", reason: "\(s.model) records no training σ (an imported checkpoint): give --sigma")
        }
        guard sigma >= 0, sigma.isFinite else { throw CoordinatorError.invalidOption(name: "sigma", value: "\(sigma)", reason: "must be ≥ 0") }
        guard s.steps >= 1 else { throw CoordinatorError.invalidOption(name: "steps", value: "\(s.steps)", reason: "must be ≥ 1") }
        let config = SolverConfig(kind: s.solver, maxSteps: s.steps, tolerance: 1e-3, stopMode: .relative)
        let n = s.max > 0 ? Swift.min(s.max, test.count) : test.count
        let t0 = Date()
        if let outputs = s.outputs { try PerImageOutputs.prepare(outputs) }
        let r = DEQEvaluation.run(model: m, data: test, count: n, sigma: sigma, solver: config, seed: s.seed)
        var lines: [String] = []
        if let outputs = s.outputs {
            try PerImageOutputs.write(model: m, data: test, images: Array(0..<n), solver: config, to: outputs)
            lines.append("per-image outputs of the clean images → \(outputs)")
        }
        return [
            String(
                format:
                    "%@ on %@ test (%d images), %@-%d: clean %.2f%%, noisy (σ=%.2f) %.2f%%; mean relative residual %.2e, %.1f f-evaluations per batch, %d diverged; %.1f s",
                s.model, source.rawValue, n, s.solver.rawValue, s.steps, 100 * r.cleanAccuracy, sigma, 100 * r.noisyAccuracy,
                r.meanResidual, r.meanEvaluations, r.divergedSamples, Date().timeIntervalSince(t0))
        ] + lines
    }

    func evaluateViT() throws -> [String] {
        let s = settings
        var (model, p, trained) = try ViTEvaluation.load(s.model)
        let source = try s.data.map(ImageDataSource.init(parsing:)) ?? trained
        let rule = try RobustModels.install(s.attention, on: &model, parameters: p, data: trained, calibrationCount: s.calibrationCount)
        if let outputs = s.outputs {
            throw CoordinatorError.invalidOption(
                name: "outputs", value: outputs, reason: "\(s.model) is a ViT: per-image outputs are for DEQ-S and MDEQ")
        }
        let test = try source.load(split: .test, directory: s.dataDirectory)
        let n = s.max > 0 ? min(s.max, test.count) : test.count
        let t0 = Date()
        let acc = try ViTEvaluation.accuracy(model, p, data: test, count: n, normalization: source.normalization)
        return [
            String(
                format: "%@ on %@ test (%d images): accuracy %.2f%%; %.1f s", s.model, source.rawValue, n, 100 * acc,
                Date().timeIntervalSince(t0)),
            "attention: \(rule)",
        ]
    }

    func evaluateText() throws -> [String] {
        let s = settings
        var loaded = try TextCheckpoint.load(s.model)
        if let data = s.data, try TextDataSource(parsing: data) != loaded.dataSet {
            throw CoordinatorError.invalidOption(
                name: "data", value: data,
                reason: "this checkpoint was trained on \(loaded.dataSet.rawValue) and is evaluated on its own split")
        }
        let rule = try RobustModels.install(
            s.attention, on: &loaded, calibrationCount: s.calibrationCount,
            dataDirectory: s.textDataDirectory)
        let t0 = Date()
        let e = try TextCheckpoint.evaluate(
            loaded, part: s.textPart, dataDirectory: s.textDataDirectory, maxLength: s.textMaxLength,
            batchSize: s.textBatch)
        return [
            String(
                format: "%@ on %@ %@ (%d texts, max length %d, %d truncated): accuracy %.2f%%, loss %.4f; %.1f s",
                s.model, e.dataSet.rawValue, s.textPart.rawValue, e.result.count, e.maxLength, e.truncated,
                100 * e.result.accuracy, e.result.loss, Date().timeIntervalSince(t0)),
            "attention: \(rule)",
        ]
    }
}
