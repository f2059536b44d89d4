// Elementwise reduction operators and the rank-order fold that makes reductions deterministic.

/// An elementwise reduction operator: `.sum` (wrapping for integers), `.max`, `.min`.
public enum ReductionOp: String, Sendable, CaseIterable, CustomStringConvertible {
    case sum, max, min

    public var description: String { rawValue }

    /// Folds per-rank contributions (indexed by rank) in rank order: `r[i] = ((c₀[i] ⊕ c₁[i]) ⊕ c₂[i]) ⊕ …`.
    ///
    /// All contributions must have the same count. For floating point, `max`/`min` keep the earlier value
    /// unless the later one compares strictly greater/smaller (so a NaN in rank 0 propagates, later NaNs do not).
    /// Every communicator in this package reduces floating point through this fold, so the same inputs give
    /// the same bits on every rank and every run.
    public func combine<T: ReducibleScalar>(_ contributions: [[T]]) -> [T] {
        precondition(!contributions.isEmpty, "reduction over zero contributions")
        var result = contributions[0]
        for c in contributions.dropFirst() {
            precondition(c.count == result.count, "reduction contributions differ in count: \(result.count) vs \(c.count)")
            for i in result.indices {
                result[i] = T.combine(result[i], c[i], self)
            }
        }
        return result
    }
}

/// A scalar type the communicators can reduce: `Int64`, `Double`, `Float`.
public protocol ReducibleScalar: Sendable, BitwiseCopyable {
    /// `a ⊕ b` for the operator `op`.
    static func combine(_ a: Self, _ b: Self, _ op: ReductionOp) -> Self
}

extension Int64: ReducibleScalar {
    /// Sum wraps on overflow (as MPI's does in practice); max/min are exact.
    @inlinable
    public static func combine(_ a: Int64, _ b: Int64, _ op: ReductionOp) -> Int64 {
        switch op {
        case .sum: return a &+ b
        case .max: return b > a ? b : a
        case .min: return b < a ? b : a
        }
    }
}

extension Double: ReducibleScalar {
    @inlinable
    public static func combine(_ a: Double, _ b: Double, _ op: ReductionOp) -> Double {
        switch op {
        case .sum: return a + b
        case .max: return b > a ? b : a
        case .min: return b < a ? b : a
        }
    }
}

extension Float: ReducibleScalar {
    @inlinable
    public static func combine(_ a: Float, _ b: Float, _ op: ReductionOp) -> Float {
        switch op {
        case .sum: return a + b
        case .max: return b > a ? b : a
        case .min: return b < a ? b : a
        }
    }
}
