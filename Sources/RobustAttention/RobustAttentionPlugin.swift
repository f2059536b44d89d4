import Foundation
import NeuralNet
import TensorCore
import Transformers

/// Which attention rule replaces A·V (the `--attention` option).
public enum AttentionRule: String, Sendable, CaseIterable, Codable {
    case vanilla, l1, huber, mcp
    case huberMCP = "huber-mcp"
}

/// A distance parameter (δ or γ): an absolute value, or `auto` = a stated quantile of the clean distances
/// ‖Z⁽⁰⁾_i − V_j‖ (over real keys) of each layer on a calibration batch (docs/models.md §3: below the
/// typical distance MCP silently becomes plain attention, so the scale must come from the model).
public enum DistanceParameter: Sendable, Equatable, CustomStringConvertible {
    case absolute(Float)
    case quantile(Double)

    /// Parses `auto` (with `defaultQuantile`), `q0.9` (quantile 0.9) or a number.
    public init(parsing text: String, name: String, defaultQuantile: Double) throws(RobustAttentionError) {
        if text == "auto" { self = .quantile(defaultQuantile); return }
        if text.hasPrefix("q"), let q = Double(text.dropFirst()) {
            guard q > 0, q < 1 else { throw .invalidParameter(name: name, value: text, reason: "a quantile must be in (0, 1)") }
            self = .quantile(q); return
        }
        guard let v = Float(text), v.isFinite, v > 0 else {
            throw .invalidParameter(name: name, value: text, reason: "expected a positive distance, auto, or qP (a quantile, e.g. q0.9)")
        }
        self = .absolute(v)
    }

    public var description: String {
        switch self {
        case .absolute(let v): return "\(v)"
        case .quantile(let q): return "auto(q=\(q))"
        }
    }
}

/// Everything `--attention …` selects, and how to turn it into one combiner per layer of a model.
public struct RobustAttentionSettings: Sendable, Equatable {
    public var rule: AttentionRule
    public var steps: Int
    public var gamma: DistanceParameter
    public var delta: DistanceParameter
    public var epsilon: Float
    public var stepSize: Float
    public var gradient: RobustCombiner.Gradient

    /// Defaults: K = 3, ε = 1e-2, t = 1, γ at the 0.9 quantile and δ at the median of each layer's clean distances.
    public static let defaultGammaQuantile = 0.9
    public static let defaultDeltaQuantile = 0.5

    public init(
        rule: AttentionRule, steps: Int = 3, gamma: DistanceParameter = .quantile(defaultGammaQuantile),
        delta: DistanceParameter = .quantile(defaultDeltaQuantile), epsilon: Float = 1e-2, stepSize: Float = 1,
        gradient: RobustCombiner.Gradient = .full
    ) throws(RobustAttentionError) {
        guard steps >= 0 else { throw .invalidParameter(name: "irls-steps", value: "\(steps)", reason: "must be ≥ 0") }
        if rule == .huberMCP, case .absolute(let g) = gamma, case .absolute(let d) = delta, g <= d {
            throw .invalidParameter(name: "gamma", value: "\(g)", reason: "Huber-MCP needs γ > δ (δ = \(d))")
        }
        if rule == .huberMCP, case .quantile(let g) = gamma, case .quantile(let d) = delta, g <= d {
            throw .invalidParameter(name: "gamma", value: "q\(g)", reason: "Huber-MCP needs γ's quantile above δ's (\(d))")
        }
        self.rule = rule; self.steps = steps; self.gamma = gamma; self.delta = delta
        self.epsilon = epsilon; self.stepSize = stepSize; self.gradient = gradient
    }

    /// Whether building the combiners needs a calibration pass.
    public var needsCalibration: Bool {
        func q(_ p: DistanceParameter) -> Bool { if case .quantile = p { return true } else { return false } }
        switch rule {
        case .vanilla, .l1: return false
        case .huber: return q(delta)
        case .mcp: return q(gamma)
        case .huberMCP: return q(gamma) || q(delta)
        }
    }

    /// One combiner per layer. `calibration` (needed when `needsCalibration`) holds each layer's clean distances.
    /// Returns the combiners and, per layer, the penalty actually used (for reports and manifests).
    public func combiners(layers: Int, calibration: DistanceCalibration?) throws -> [any AttentionCombiner] {
        if rule == .vanilla { return Array(repeating: WeightedSumCombiner(), count: layers) }
        return try (0..<layers).map { l in
            try RobustCombiner(
                penalty: penalty(layer: l, calibration: calibration), steps: steps,
                epsilon: epsilon, stepSize: stepSize, gradient: gradient)
        }
    }

    /// The penalty of layer `l` with δ/γ resolved.
    public func penalty(layer l: Int, calibration: DistanceCalibration?) throws -> RobustPenalty {
        func resolve(_ p: DistanceParameter, _ name: String) throws -> Float {
            switch p {
            case .absolute(let v): return v
            case .quantile(let q):
                guard let calibration else {
                    throw RobustAttentionError.invalidParameter(name: name, value: "\(p)", reason: "needs a calibration batch")
                }
                return calibration.quantile(q, layer: l)
            }
        }
        switch rule {
        case .vanilla: throw RobustAttentionError.invalidParameter(name: "attention", value: "vanilla", reason: "has no penalty")
        case .l1: return .l1
        case .huber: return .huber(delta: try resolve(delta, "delta"))
        case .mcp: return .mcp(gamma: try resolve(gamma, "gamma"))
        case .huberMCP:
            let d = try resolve(delta, "delta"), g = try resolve(gamma, "gamma")
            // Quantiles of a degenerate distribution can coincide: keep γ strictly above δ.
            return .huberMCP(delta: d, gamma: g > d ? g : d * 1.0001 + 1e-6)
        }
    }

    /// One line for reports: rule, K, and each layer's δ/γ.
    public func summary(layers: Int, calibration: DistanceCalibration?) -> String {
        guard rule != .vanilla else { return "vanilla (A·V)" }
        let perLayer = (0..<layers).map { l in (try? penalty(layer: l, calibration: calibration)).map { "\($0)" } ?? "?" }
        let distinct = Set(perLayer)
        let penalties = distinct.count == 1 ? perLayer[0] : "per layer [" + perLayer.joined(separator: ", ") + "]"
        return "\(rule.rawValue), K=\(steps), ε=\(epsilon), t=\(stepSize), gradient \(gradient.rawValue): \(penalties)"
            + (needsCalibration ? " (γ=\(gamma), δ=\(delta) of the clean distances)" : "")
    }
}

/// The clean distance distribution ‖Z⁽⁰⁾_i − V_j‖ (Z⁽⁰⁾ = A·V, over pairs with A_ij > 0) of every attention layer,
/// gathered by running a model once with `recorders(layers:)` installed. Keeps up to `maxSamples` distances per layer
/// (a deterministic stride over the pairs when there are more).
public final class DistanceCalibration: @unchecked Sendable {
    private let lock = NSLock()
    private var samples: [[Float]]
    public let maxSamples: Int

    public init(layers: Int, maxSamples: Int = 200_000) {
        samples = Array(repeating: [], count: layers)
        self.maxSamples = maxSamples
    }

    /// Combiners computing plain A·V that record the distances of their layer.
    public func recorders() -> [any AttentionCombiner] {
        (0..<samples.count).map { DistanceRecorder(layer: $0, calibration: self) }
    }

    func record(layer: Int, _ values: [Float]) {
        lock.withLock {
            samples[layer].append(contentsOf: values)
            if samples[layer].count > 2 * maxSamples {  // thin deterministically: keep every other one
                samples[layer] = stride(from: 0, to: samples[layer].count, by: 2).map { samples[layer][$0] }
            }
        }
    }

    public var layerCount: Int { samples.count }
    public func sampleCount(layer: Int) -> Int { lock.withLock { samples[layer].count } }

    private var sortedCache: [Int: [Float]] = [:]

    /// The q-quantile (linear interpolation between order statistics) of layer `layer`'s distances.
    public func quantile(_ q: Double, layer: Int) -> Float {
        let sorted: [Float] = lock.withLock {
            if let s = sortedCache[layer], s.count == samples[layer].count { return s }
            let s = samples[layer].sorted()
            sortedCache[layer] = s
            return s
        }
        guard !sorted.isEmpty else { return 1 }
        let pos = q * Double(sorted.count - 1)
        let lo = Int(pos.rounded(.down)), hi = Swift.min(lo + 1, sorted.count - 1)
        let f = Float(pos - Double(lo))
        return sorted[lo] * (1 - f) + sorted[hi] * f
    }
}

/// Plain A·V that also hands its layer's clean distances to a `DistanceCalibration`.
struct DistanceRecorder: AttentionCombiner {
    let layer: Int
    let calibration: DistanceCalibration

    func forward(attention a: Tensor, values v: Tensor) -> (output: Tensor, cache: LayerCache) {
        let (z, cache) = WeightedSumCombiner().forward(attention: a, values: v)
        let (g, t, d) = (v.shape[0], v.shape[1], v.shape[2])
        var found: [Float] = []
        found.reserveCapacity(g * t * t / 2)
        a.withUnsafeBufferPointer { pa in
            v.withUnsafeBufferPointer { pv in
                z.withUnsafeBufferPointer { pz in
                    for grp in 0..<g {
                        for i in 0..<t {
                            // Padding query rows have the same real keys; they add duplicates of nothing harmful.
                            for j in 0..<t where pa[grp * t * t + i * t + j] > 0 {
                                var s: Float = 0
                                for c in 0..<d {
                                    let x = pz[(grp * t + i) * d + c] - pv[(grp * t + j) * d + c]
                                    s += x * x
                                }
                                found.append(s.squareRoot())
                            }
                        }
                    }
                }
            }
        }
        calibration.record(layer: layer, found)
        return (z, cache)
    }

    func backward(_ gradOutput: Tensor, _ cache: LayerCache) -> (attention: Tensor, values: Tensor) {
        WeightedSumCombiner().backward(gradOutput, cache)
    }
}

/// Models whose attention layers take a replaceable combiner (the MiniLM classifier, the ViT).
public protocol AttentionPluggable {
    var attentionLayerCount: Int { get }
    mutating func setAttentionCombiners(_ combiners: [any AttentionCombiner])
}

extension TextClassifier: AttentionPluggable {
    public var attentionLayerCount: Int { encoder.layers.count }
    public mutating func setAttentionCombiners(_ combiners: [any AttentionCombiner]) {
        precondition(combiners.count == encoder.layers.count, "\(combiners.count) combiners for \(encoder.layers.count) layers")
        for l in combiners.indices { encoder.layers[l].attention.combiner = combiners[l] }
    }
}

extension VisionTransformer: AttentionPluggable {
    public var attentionLayerCount: Int { blocks.count }
    public mutating func setAttentionCombiners(_ combiners: [any AttentionCombiner]) {
        precondition(combiners.count == blocks.count, "\(combiners.count) combiners for \(blocks.count) layers")
        for l in combiners.indices { blocks[l].attention.combiner = combiners[l] }
    }
}

extension AttentionPluggable {
    /// Install `settings` (calibrating first when needed, by running `calibrationForward` once with recorders
    /// installed). Returns the calibration used (nil when none was needed).
    @discardableResult
    public mutating func installRobustAttention(
        _ settings: RobustAttentionSettings,
        calibrationForward: (Self) throws -> Void
    ) throws -> DistanceCalibration? {
        guard attentionLayerCount > 0 else { throw RobustAttentionError.noAttention(model: "\(Self.self)") }
        var calibration: DistanceCalibration? = nil
        if settings.needsCalibration {
            let c = DistanceCalibration(layers: attentionLayerCount)
            setAttentionCombiners(c.recorders())
            try calibrationForward(self)
            calibration = c
        }
        setAttentionCombiners(try settings.combiners(layers: attentionLayerCount, calibration: calibration))
        return calibration
    }
}
