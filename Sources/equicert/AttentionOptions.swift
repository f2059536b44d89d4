import ArgumentParser
import Coordinator
import RobustAttention

/// `--attention …`: the attention rule installed on a transformer checkpoint before it is evaluated, attacked or
/// certified (docs/models.md §3; no retraining).
struct AttentionOptions: ParsableArguments {
    @Option(help: "Transformers: attention rule vanilla, l1, huber, mcp or huber-mcp (robust rules replace A·V, no retraining).")
    var attention: AttentionRule = .vanilla
    @Option(help: "Robust attention: IRLS steps K.") var irlsSteps: Int = 3
    @Option(help: "MCP / Huber-MCP γ: a distance, auto (0.9 quantile of each layer's clean distances) or qP (quantile P).")
    var gamma: String = "auto"
    @Option(help: "Huber / Huber-MCP δ: a distance, auto (median of each layer's clean distances) or qP.")
    var delta: String = "auto"
    @Option(help: "Robust attention: ε of the weights.") var irlsEpsilon: Float = 1e-2
    @Option(help: "Robust attention: gradient used by attacks, full (through the reweighting) or detached.")
    var attentionGradient: RobustCombiner.Gradient = .full
    @Option(help: "Robust attention: training examples that calibrate auto γ/δ.") var calibrationExamples: Int = 64

    func validate() throws {
        guard calibrationExamples >= 1 else { throw ValidationError("invalid --calibration-examples \(calibrationExamples): must be ≥ 1") }
    }

    func settings() throws -> RobustAttentionSettings {
        try RobustAttentionSettings(
            rule: attention, steps: irlsSteps,
            gamma: try DistanceParameter(parsing: gamma, name: "gamma", defaultQuantile: RobustAttentionSettings.defaultGammaQuantile),
            delta: try DistanceParameter(parsing: delta, name: "delta", defaultQuantile: RobustAttentionSettings.defaultDeltaQuantile),
            epsilon: irlsEpsilon, gradient: attentionGradient)
    }
}
