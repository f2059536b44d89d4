// Learning-rate schedules: pure functions of the step.
// Names: s the step (0-based: the index of the optimizer step about to be taken), W warm-up steps,
// T total steps, η the base (peak) rate, η_min the floor.
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A learning-rate schedule: `lr(step:)` is a pure function of the 0-based step.
///
/// Warm-up (every schedule but `constant`) follows Hugging Face transformers'
/// `get_*_schedule_with_warmup`: lr(s) = η·s/W for s < W (so step 0 has lr 0 when W > 0), reaching η at s = W.
/// After warm-up, with progress p = (s − W)/(T − W) clamped to [0, 1]:
/// - `cosine`:    η_min + (η − η_min)·½(1 + cos πp)                 (η at s = W, η_min from s = T on)
/// - `linear`:    η_min + (η − η_min)·(1 − p)                        (η at s = W, η_min from s = T on)
/// - `stepDecay`: η·γᵏ, k = number of milestones ≤ s                 (torch MultiStepLR, in steps)
public enum LearningRateSchedule: Sendable, Equatable {
    /// lr(s) = η.
    case constant(Float)
    /// Linear warm-up over `warmup` steps, then cosine decay to `floor` at step `total`.
    case cosine(base: Float, warmup: Int, total: Int, floor: Float)
    /// Linear warm-up over `warmup` steps, then linear decay to `floor` at step `total`
    /// (transformer fine-tuning).
    case linear(base: Float, warmup: Int, total: Int, floor: Float)
    /// Linear warm-up over `warmup` steps, then multiplied by `gamma` at each milestone step.
    case stepDecay(base: Float, warmup: Int, milestones: [Int], gamma: Float)

    /// Check the fields (throws `invalidHyperparameter` naming the field).
    public func validate() throws(OptimizersError) {
        func checkBase(_ base: Float, _ warmup: Int) throws(OptimizersError) {
            try require(base >= 0 && base.isFinite, "lr", base, "finite and ≥ 0")
            try require(warmup >= 0, "warmup", Float(warmup), "≥ 0")
        }
        switch self {
        case let .constant(base):
            try checkBase(base, 0)
        case let .cosine(base, warmup, total, floor), let .linear(base, warmup, total, floor):
            try checkBase(base, warmup)
            try require(total > warmup, "total", Float(total), "> warmup (\(warmup))")
            try require(floor >= 0 && floor <= base, "floor", floor, "in [0, lr]")
        case let .stepDecay(base, warmup, milestones, gamma):
            try checkBase(base, warmup)
            try require(gamma > 0 && gamma.isFinite, "gamma", gamma, "finite and > 0")
            for (a, b) in zip(milestones, milestones.dropFirst()) {
                try require(a < b, "milestones", Float(b), "strictly increasing")
            }
        }
    }

    /// The learning rate for 0-based step `step` (see the type's documentation for the formulas).
    public func lr(step: Int) -> Float {
        precondition(step >= 0, "negative step \(step)")
        func warm(_ base: Float, _ warmup: Int) -> Float? {
            step < warmup ? Float(Double(base) * Double(step) / Double(warmup)) : nil
        }
        func progress(_ warmup: Int, _ total: Int) -> Double {
            min(1, max(0, Double(step - warmup) / Double(max(1, total - warmup))))
        }
        switch self {
        case let .constant(base):
            return base
        case let .cosine(base, warmup, total, floor):
            if let w = warm(base, warmup) { return w }
            let p = progress(warmup, total)
            return Float(Double(floor) + (Double(base) - Double(floor)) * 0.5 * (1 + cos(Double.pi * p)))
        case let .linear(base, warmup, total, floor):
            if let w = warm(base, warmup) { return w }
            let p = progress(warmup, total)
            return Float(Double(floor) + (Double(base) - Double(floor)) * (1 - p))
        case let .stepDecay(base, warmup, milestones, gamma):
            if let w = warm(base, warmup) { return w }
            let k = milestones.reduce(0) { $0 + ($1 <= step ? 1 : 0) }
            return Float(Double(base) * pow(Double(gamma), Double(k)))
        }
    }
}
