// Adam and AdamW, PyTorch's semantics (torch.optim.Adam / torch.optim.AdamW, single-tensor path).
// Names: w parameters, g gradient, m and v the first and second moment estimates, t the step
// (from 1), β1, β2, ε, λ weight decay, f the decay mask factor, lr.
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How Adam applies weight decay.
public enum AdamDecayStyle: Sendable, Equatable {
    /// L2 through the gradient, g ← g + λ·f·w (torch.optim.Adam's `weight_decay`).
    case coupled
    /// Decoupled, w ← w·(1 − lr·λ·f) before the Adam update (torch.optim.AdamW; Loshchilov & Hutter, ICLR 2019).
    case decoupled
}

/// Adam (Kingma & Ba, ICLR 2015) with bias correction and ε outside the square root, as torch.optim.Adam.
///
/// Per element, at step t = 1, 2, …:
///   coupled decay:   g ← g + λ·f·w            decoupled decay: w ← w − lr·λ·f·w
///   m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²
///   w ← w − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
/// The bias-correction scalars are computed in Double, the element updates in Float (as torch on CPU).
/// Holds 2n floats of state (`exp_avg` = m, `exp_avg_sq` = v).
public struct Adam: Optimizer {
    public static var kind: String { "adam" }
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public let weightDecay: Float
    public let decayStyle: AdamDecayStyle
    public let decayMask: WeightDecayMask

    public private(set) var stepCount = 0
    var m: [Float] = []
    var v: [Float] = []
    var decayFactors: [Float]? = nil
    var parameterCount: Int? = nil

    /// Validates the hyperparameters (throws `invalidHyperparameter`). Defaults are torch.optim.Adam's.
    public init(
        beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0,
        decayStyle: AdamDecayStyle = .coupled, decayMask: WeightDecayMask = .all
    ) throws(OptimizersError) {
        try require(beta1 >= 0 && beta1 < 1, "beta1", beta1, "in [0, 1)")
        try require(beta2 >= 0 && beta2 < 1, "beta2", beta2, "in [0, 1)")
        try require(epsilon >= 0 && epsilon.isFinite, "eps", epsilon, "finite and ≥ 0")
        try require(weightDecay >= 0 && weightDecay.isFinite, "weight_decay", weightDecay, "finite and ≥ 0")
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decayStyle = decayStyle
        self.decayMask = decayMask
    }

    public var stateCount: Int { m.count + v.count }

    public mutating func step(
        parameters w: UnsafeMutableBufferPointer<Float>, gradients g: UnsafeBufferPointer<Float>,
        learningRate lr: Float
    ) {
        let n = w.count
        precondition(g.count == n, "gradients (\(g.count)) and parameters (\(n)) differ in size")
        prepare(count: n)
        if m.isEmpty {
            m = [Float](repeating: 0, count: n)
            v = [Float](repeating: 0, count: n)
        }
        stepCount += 1
        let t = Double(stepCount)
        let bc1 = 1 - pow(Double(beta1), t)
        let bc2 = 1 - pow(Double(beta2), t)
        let stepSize = Float(Double(lr) / bc1)
        let bc2Sqrt = Float(bc2.squareRoot())
        let b2 = beta2, oneMinusB1 = 1 - beta1, oneMinusB2 = 1 - beta2, eps = epsilon
        let lambda = weightDecay, factors = decayFactors
        let coupled = decayStyle == .coupled && lambda != 0
        let decoupled = decayStyle == .decoupled && lambda != 0
        let shrink = Float(Double(lr) * Double(lambda))  // lr·λ, as torch's 1 − lr·λ
        m.withUnsafeMutableBufferPointer { m in
            v.withUnsafeMutableBufferPointer { v in
                for i in 0..<n {
                    var gi = g[i]
                    let f: Float = factors == nil ? 1 : factors![i]
                    if coupled { gi += lambda * f * w[i] }
                    if decoupled { w[i] *= 1 - shrink * f }
                    // torch: m.lerp_(g, 1 − β1), i.e. m + (1 − β1)(g − m); v·β2 + (1 − β2)·g·g.
                    m[i] += oneMinusB1 * (gi - m[i])
                    v[i] = v[i] * b2 + oneMinusB2 * gi * gi
                    let denom = v[i].squareRoot() / bc2Sqrt + eps
                    w[i] -= stepSize * m[i] / denom
                }
            }
        }
    }

    mutating func prepare(count n: Int) {
        if let k = parameterCount {
            precondition(k == n, "parameter count changed from \(k) to \(n)")
            return
        }
        parameterCount = n
        do { decayFactors = try decayMask.resolved(count: n) } catch { preconditionFailure("\(error)") }
    }

    /// The state under `kind` (shared with `AdamW`, which saves as "adamw").
    func state(kind: String) -> OptimizerState {
        OptimizerState(
            kind: kind, step: stepCount,
            buffers: m.isEmpty ? [:] : ["exp_avg": m, "exp_avg_sq": v])
    }

    mutating func restore(_ state: OptimizerState, kind: String, parameterCount n: Int) throws(OptimizersError) {
        try state.validate(
            kind: kind, names: ["exp_avg", "exp_avg_sq"], optional: state.step == 0,
            parameterCount: n)
        m = state.buffers["exp_avg"] ?? []
        v = state.buffers["exp_avg_sq"] ?? []
        if m.isEmpty != v.isEmpty { throw .missingStateBuffer(name: m.isEmpty ? "exp_avg" : "exp_avg_sq") }
        stepCount = state.step
        parameterCount = nil
        prepare(count: n)
    }

    public func state() -> OptimizerState { state(kind: Self.kind) }

    public mutating func restore(_ state: OptimizerState, parameterCount n: Int) throws(OptimizersError) {
        var copy = self
        try copy.restore(state, kind: Self.kind, parameterCount: n)
        self = copy
    }
}

/// AdamW: Adam with decoupled weight decay, as torch.optim.AdamW (default λ = 0.01).
///
/// w ← w·(1 − lr·λ·f), then the Adam update of `Adam` without L2 in the gradient.
/// (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.)
public struct AdamW: Optimizer {
    public static var kind: String { "adamw" }
    var adam: Adam

    /// Validates the hyperparameters (throws `invalidHyperparameter`). Defaults are torch.optim.AdamW's.
    public init(
        beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0.01,
        decayMask: WeightDecayMask = .all
    ) throws(OptimizersError) {
        adam = try Adam(
            beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay,
            decayStyle: .decoupled, decayMask: decayMask)
    }

    public var beta1: Float { adam.beta1 }
    public var beta2: Float { adam.beta2 }
    public var epsilon: Float { adam.epsilon }
    public var weightDecay: Float { adam.weightDecay }
    public var decayMask: WeightDecayMask { adam.decayMask }
    public var stepCount: Int { adam.stepCount }
    public var stateCount: Int { adam.stateCount }

    public mutating func step(
        parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>,
        learningRate: Float
    ) {
        adam.step(parameters: parameters, gradients: gradients, learningRate: learningRate)
    }

    public func state() -> OptimizerState { adam.state(kind: Self.kind) }

    public mutating func restore(_ state: OptimizerState, parameterCount n: Int) throws(OptimizersError) {
        var copy = adam
        try copy.restore(state, kind: Self.kind, parameterCount: n)
        adam = copy
    }
}
