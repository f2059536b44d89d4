// Stochastic gradient descent with momentum, PyTorch's convention (torch.optim.SGD).
// Names: w parameters, g gradient, b momentum buffer, μ momentum, τ dampening, λ weight decay, lr.

/// SGD with optional momentum, dampening, Nesterov momentum and (L2) weight decay, as torch.optim.SGD.
///
/// Per element, with fᵢ the decay mask factor:
///   g ← g + λ·fᵢ·w
///   b ← g on the first step, else b ← μ·b + (1 − τ)·g        (only when μ ≠ 0)
///   d ← g + μ·b (Nesterov) or d ← b (classical) or d ← g (μ = 0)
///   w ← w − lr·d
/// Holds n floats of state (the momentum buffer) when μ ≠ 0, none otherwise.
public struct SGD: Optimizer {
    public static let kind = "sgd"
    /// μ ∈ [0, 1).
    public let momentum: Float
    /// τ ∈ [0, 1]: the gradient enters the buffer with weight 1 − τ (not on the first step).
    public let dampening: Float
    /// Use Nesterov momentum (requires μ > 0 and τ = 0).
    public let nesterov: Bool
    /// λ ≥ 0: L2 penalty (λ/2)‖w‖² added through the gradient.
    public let weightDecay: Float
    /// Which elements decay.
    public let decayMask: WeightDecayMask

    public private(set) var stepCount = 0
    var momentumBuffer: [Float] = []
    var decayFactors: [Float]? = nil
    var parameterCount: Int? = nil

    /// Validates the hyperparameters (throws `invalidHyperparameter`).
    public init(
        momentum: Float = 0, dampening: Float = 0, nesterov: Bool = false,
        weightDecay: Float = 0, decayMask: WeightDecayMask = .all
    ) throws(OptimizersError) {
        try require(momentum >= 0 && momentum < 1, "momentum", momentum, "in [0, 1)")
        try require(dampening >= 0 && dampening <= 1, "dampening", dampening, "in [0, 1]")
        try require(weightDecay >= 0 && weightDecay.isFinite, "weight_decay", weightDecay, "finite and ≥ 0")
        if nesterov {
            try require(momentum > 0, "momentum", momentum, "> 0 with Nesterov momentum")
            try require(dampening == 0, "dampening", dampening, "0 with Nesterov momentum")
        }
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.decayMask = decayMask
    }

    public var stateCount: Int { momentumBuffer.count }

    public mutating func step(
        parameters w: UnsafeMutableBufferPointer<Float>, gradients g: UnsafeBufferPointer<Float>,
        learningRate lr: Float
    ) {
        let n = w.count
        precondition(g.count == n, "gradients (\(g.count)) and parameters (\(n)) differ in size")
        prepare(count: n)
        let mu = momentum, tau1 = 1 - dampening, lambda = weightDecay
        let first = momentumBuffer.isEmpty  // torch: no buffer yet → b ← g
        if momentum != 0 && first {
            momentumBuffer = [Float](repeating: 0, count: n)
        }
        let nest = nesterov
        momentumBuffer.withUnsafeMutableBufferPointer { b in
            for i in 0..<n {
                var gi = g[i]
                if lambda != 0 { gi += lambda * (decayFactors?[i] ?? 1) * w[i] }
                if mu != 0 {
                    b[i] = first ? gi : mu * b[i] + tau1 * gi
                    gi = nest ? gi + mu * b[i] : b[i]
                }
                w[i] -= lr * gi
            }
        }
        stepCount += 1
    }

    /// Record n on the first step, resolve the decay mask; n must not change afterwards.
    mutating func prepare(count n: Int) {
        if let m = parameterCount {
            precondition(m == n, "parameter count changed from \(m) to \(n)")
            return
        }
        parameterCount = n
        do { decayFactors = try decayMask.resolved(count: n) } catch { preconditionFailure("\(error)") }
    }

    public func state() -> OptimizerState {
        OptimizerState(
            kind: Self.kind, step: stepCount,
            buffers: momentumBuffer.isEmpty ? [:] : ["momentum_buffer": momentumBuffer])
    }

    public mutating func restore(_ state: OptimizerState, parameterCount n: Int) throws(OptimizersError) {
        // The buffer is absent when μ = 0 or before the first step.
        try state.validate(kind: Self.kind, names: ["momentum_buffer"], optional: true, parameterCount: n)
        if momentum != 0 && state.step > 0 && state.buffers["momentum_buffer"] == nil {
            throw .missingStateBuffer(name: "momentum_buffer")
        }
        stepCount = state.step
        momentumBuffer = momentum != 0 ? (state.buffers["momentum_buffer"] ?? []) : []
        parameterCount = nil
        prepare(count: n)
    }
}
