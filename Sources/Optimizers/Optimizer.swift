// The optimizer interface: updates of one flat parameter buffer from one flat gradient buffer
// (docs/architecture.md: parameters and gradients of a model live in one [Float] each).
//
// Names: n = number of parameters; w = parameters, g = gradients, lr = learning rate,
// λ = weight decay, μ = momentum.

/// An optimizer: `step` updates a flat parameter buffer in place from a gradient buffer of equal size.
///
/// State buffers (momentum, moments) are sized on the first step, so `stateCount` is 0 before it.
/// `state()` / `restore(_:parameterCount:)` save and load all state as named Float arrays (with
/// PyTorch's names) plus the step count, for `--resume` from a checkpoint: a restored optimizer
/// continues exactly as the saved one would have.
public protocol Optimizer: Sendable {
    /// The kind recorded in saved state ("sgd", "adam", "adamw").
    static var kind: String { get }
    /// Number of steps taken (Adam's bias correction uses it).
    var stepCount: Int { get }
    /// Total Float elements held in state buffers (0 before the first step and for plain SGD).
    var stateCount: Int { get }
    /// One update: w ← update(w, g, lr). Shapes: `parameters.count == gradients.count == n`,
    /// and n must not change between steps.
    mutating func step(
        parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>,
        learningRate: Float)
    /// All state, as named Float arrays of length n plus the step count.
    func state() -> OptimizerState
    /// Load `state` saved by `state()` of the same kind of optimizer, for a model of `parameterCount`
    /// parameters. Throws (and leaves `self` unchanged) when kind, names or sizes do not fit.
    mutating func restore(_ state: OptimizerState, parameterCount: Int) throws(OptimizersError)
}

extension Optimizer {
    /// One update on `[Float]` buffers (see `step(parameters:gradients:learningRate:)` on pointers).
    public mutating func step(parameters: inout [Float], gradients: [Float], learningRate: Float) {
        gradients.withUnsafeBufferPointer { g in
            parameters.withUnsafeMutableBufferPointer { w in
                step(parameters: w, gradients: g, learningRate: learningRate)
            }
        }
    }
}

/// An optimizer's saved state: its kind, its step count and named Float buffers of length n.
///
/// Buffer names follow PyTorch (`momentum_buffer`, `exp_avg`, `exp_avg_sq`); a checkpoint stores
/// them as tensors `optimizer.<name>` and `kind`/`step` in its metadata.
public struct OptimizerState: Sendable, Equatable {
    /// The optimizer kind that produced this state ("sgd", "adam", "adamw").
    public var kind: String
    /// Number of steps taken.
    public var step: Int
    /// Named state buffers, each with one element per parameter.
    public var buffers: [String: [Float]]

    public init(kind: String, step: Int, buffers: [String: [Float]]) {
        self.kind = kind
        self.step = step
        self.buffers = buffers
    }

    /// Check kind, step and buffer names/sizes against what an optimizer expects.
    func validate(
        kind expectedKind: String, names: Set<String>, optional: Bool,
        parameterCount n: Int
    ) throws(OptimizersError) {
        guard kind == expectedKind else { throw .stateKindMismatch(expected: expectedKind, found: kind) }
        guard step >= 0 else { throw .invalidStepCount(step) }
        for name in buffers.keys.sorted() where !names.contains(name) {
            throw .unknownStateBuffer(name: name)
        }
        for name in names.sorted() {
            guard let b = buffers[name] else {
                if optional { continue }
                throw .missingStateBuffer(name: name)
            }
            guard b.count == n else { throw .stateSizeMismatch(name: name, expected: n, found: b.count) }
        }
    }
}

/// Which parameters weight decay applies to (e.g. none of the biases and normalization parameters).
///
/// Resolved against the parameter count on an optimizer's first step into per-element factors
/// fᵢ ∈ [0, 1]: element i decays with λ·fᵢ.
public enum WeightDecayMask: Sendable, Equatable {
    /// Every parameter decays.
    case all
    /// Only the elements in these ranges decay (e.g. the weight matrices' slots).
    case only([Range<Int>])
    /// Every element decays except those in these ranges (e.g. biases and norm scales).
    case excluding([Range<Int>])
    /// Per-element factors, one per parameter (0 = no decay, 1 = full decay).
    case factors([Float])

    /// Per-element factors for `n` parameters, or `nil` for "all" (the fast path).
    public func resolved(count n: Int) throws(OptimizersError) -> [Float]? {
        func check(_ ranges: [Range<Int>]) throws(OptimizersError) {
            for r in ranges where r.lowerBound < 0 || r.upperBound > n {
                throw .invalidDecayMask(reason: "range \(r) lies outside 0..<\(n)")
            }
        }
        switch self {
        case .all:
            return nil
        case let .only(ranges):
            try check(ranges)
            var f = [Float](repeating: 0, count: n)
            for r in ranges { for i in r { f[i] = 1 } }
            return f
        case let .excluding(ranges):
            try check(ranges)
            var f = [Float](repeating: 1, count: n)
            for r in ranges { for i in r { f[i] = 0 } }
            return f
        case let .factors(f):
            guard f.count == n else { throw .invalidDecayMask(reason: "\(f.count) factors for \(n) parameters") }
            guard f.allSatisfy({ $0 >= 0 && $0 <= 1 }) else {
                throw .invalidDecayMask(reason: "factors must lie in [0, 1]")
            }
            return f
        }
    }
}
