import Foundation
import TensorCore

/// Errors of pruning settings, masks and training: one line each, naming the setting (as the Swift field is named;
/// front ends map it to their option) or the matrix.
public enum PruningError: Error, CustomStringConvertible, Sendable, Equatable {
    case invalidSetting(name: String, value: String, reason: String)
    case maskMismatch(matrix: String, reason: String)
    case nothingToPrune(model: String)
    case nonFiniteTraining(step: Int, reason: String)

    public var description: String {
        switch self {
        case let .invalidSetting(name, value, reason): return "invalid setting \(name) = \(value): \(reason)"
        case let .nonFiniteTraining(step, reason): return "training diverged at step \(step): \(reason)"
        case let .maskMismatch(matrix, reason): return "mask of \(matrix) does not match the model: \(reason)"
        case let .nothingToPrune(model): return "\(model) has no prunable matrices"
        }
    }
}

/// An unstructured keep-mask of one weight matrix (true = kept), in the matrix's flat (row-major) order.
public struct PruningMask: Sendable, Equatable, Codable {
    public var keep: [Bool]
    public init(keep: [Bool]) { self.keep = keep }
    public init(dense count: Int) { keep = Array(repeating: true, count: count) }
    public var count: Int { keep.count }
    public var kept: Int { keep.reduce(0) { $0 + ($1 ? 1 : 0) } }
    public var sparsity: Double { count == 0 ? 0 : 1 - Double(kept) / Double(count) }
    /// Fraction of this mask's kept weights that `other` does not keep.
    public func difference(from other: PruningMask) -> Double {
        precondition(count == other.count)
        let k = kept
        guard k > 0 else { return 0 }
        var d = 0
        for i in 0..<count where keep[i] && !other.keep[i] { d += 1 }
        return Double(d) / Double(k)
    }
}

/// How many of n weights a matrix keeps at sparsity s: k = n − round(s·n), at least 1.
public func keptCount(_ n: Int, sparsity s: Double) -> Int {
    Swift.max(1, n - Int((s * Double(n)).rounded()))
}

/// The mask generators (docs/models.md §4). All masks are nested: a weight pruned by `previous` stays pruned.
public enum MaskGenerator {
    /// Deterministic magnitude pruning: keep the k largest |w| among the previously kept weights (ties by index).
    public static func magnitude(_ w: [Float], keep k: Int, previous: PruningMask? = nil) -> PruningMask {
        let alive = aliveIndices(w.count, previous)
        precondition(k >= 0 && k <= alive.count, "keep \(k) of \(alive.count) alive weights")
        let order = alive.sorted { abs(w[$0]) != abs(w[$1]) ? abs(w[$0]) > abs(w[$1]) : $0 < $1 }
        var keep = [Bool](repeating: false, count: w.count)
        for i in order.prefix(k) { keep[i] = true }
        return PruningMask(keep: keep)
    }

    /// The paper's randomized generator: keep-probability p ∝ |w|^power over the alive weights; M independent
    /// draws of k indices without replacement (Gumbel-top-k: the k largest log p + G, G ~ Gumbel(0, 1)); keep the k
    /// most drawn (ties: larger |w|, then lower index). M = max(⌊(n − k)·ρ⌋, 1) with n the alive count.
    /// The noise is keyed by (seed, stage, candidate, matrix): a candidate is the same on any rank.
    public static func randomized(
        _ w: [Float], keep k: Int, previous: PruningMask? = nil, power: Double = 5,
        rho: Double, seed: UInt64, stage: Int, candidate: Int, matrix: Int
    ) -> PruningMask {
        let alive = aliveIndices(w.count, previous)
        let n = alive.count
        precondition(k >= 0 && k <= n, "keep \(k) of \(n) alive weights")
        let m = drawCount(alive: n, keep: k, rho: rho)
        var keep = [Bool](repeating: false, count: w.count)
        guard k > 0 else { return PruningMask(keep: keep) }
        guard k < n else { for i in alive { keep[i] = true }; return PruningMask(keep: keep) }
        // log p up to a constant; zero weights get −∞ (never drawn before any positive one).
        let logP = alive.map { i -> Double in
            let a = Double(abs(w[i]))
            return a > 0 ? power * log(a) : -Double.infinity
        }
        var counts = [Int32](repeating: 0, count: n)
        var rng = RandomStream(
            seed: seed, 0x5052_4E00 &+ UInt32(truncatingIfNeeded: matrix),
            UInt32(truncatingIfNeeded: stage), UInt32(truncatingIfNeeded: candidate))
        var keys = [Double](repeating: 0, count: n)
        var idx = Array(0..<n)
        for _ in 0..<m {
            for j in 0..<n {
                let u = rng.nextUniformPositive()  // (0, 1]
                let g = -log(-log(Swift.min(u, 1 - 1e-16)))  // Gumbel(0, 1)
                keys[j] = logP[j] + g
            }
            // The k largest keys: partial selection.
            idx.withUnsafeMutableBufferPointer { b in
                quickSelect(b, k: k) { keys[$0] > keys[$1] || (keys[$0] == keys[$1] && $0 < $1) }
            }
            for j in idx[0..<k] { counts[j] += 1 }
        }
        let order = (0..<n).sorted { a, b in
            if counts[a] != counts[b] { return counts[a] > counts[b] }
            let wa = abs(w[alive[a]]), wb = abs(w[alive[b]])
            return wa != wb ? wa > wb : a < b
        }
        for j in order.prefix(k) { keep[alive[j]] = true }
        return PruningMask(keep: keep)
    }

    /// M = max(⌊(n − k)·ρ⌋, 1).
    public static func drawCount(alive n: Int, keep k: Int, rho: Double) -> Int { Swift.max(Int((Double(n - k) * rho).rounded(.down)), 1) }

    static func aliveIndices(_ n: Int, _ previous: PruningMask?) -> [Int] {
        guard let previous else { return Array(0..<n) }
        precondition(previous.count == n, "previous mask has \(previous.count) entries for \(n) weights")
        return (0..<n).filter { previous.keep[$0] }
    }

    /// Rearranges `b` so that its first k elements are the k first under `before` (in any order).
    static func quickSelect(_ b: UnsafeMutableBufferPointer<Int>, k: Int, _ before: (Int, Int) -> Bool) {
        var lo = 0, hi = b.count - 1
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        while lo < hi {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let p = b[lo + Int(state >> 33) % (hi - lo + 1)]
            var i = lo, j = hi
            while i <= j {
                while before(b[i], p) { i += 1 }
                while before(p, b[j]) { j -= 1 }
                if i <= j { b.swapAt(i, j); i += 1; j -= 1 }
            }
            if k - 1 <= j { hi = j } else if k - 1 >= i { lo = i } else { return }
        }
    }
}

/// The ρ values the released code cycles through across the candidates of a stage.
public let publishedRhos: [Double] = [5e-5, 1e-4, 8e-5, 3e-4]

/// A sparsity schedule: the sparsity after each stage, strictly increasing, each in [0, 1).
public struct SparsitySchedule: Sendable, Equatable {
    public let stages: [Double]

    public init(_ stages: [Double]) throws {
        guard !stages.isEmpty else { throw PruningError.invalidSetting(name: "schedule", value: "", reason: "no stage") }
        for s in stages where !(s >= 0 && s < 1) {
            throw PruningError.invalidSetting(name: "schedule", value: "\(s)", reason: "a sparsity must be in [0, 1)")
        }
        for (a, b) in zip(stages, stages.dropFirst()) where b <= a {
            throw PruningError.invalidSetting(
                name: "schedule", value: stages.map { "\($0)" }.joined(separator: ","),
                reason: "sparsities must increase from stage to stage")
        }
        self.stages = stages
    }

    /// `0.5,0.75,0.9` or `cubic:FINAL:STAGES` (s_t = s_f·(1 − (1 − t/T)³), t = 1…T; the paper's is ≈ cubic).
    public init(parsing text: String) throws {
        if text.hasPrefix("cubic:") {
            let parts = text.split(separator: ":")
            guard parts.count == 3, let f = Double(parts[1]), let t = Int(parts[2]), t >= 1 else {
                throw PruningError.invalidSetting(name: "schedule", value: text, reason: "expected cubic:FINAL:STAGES, e.g. cubic:0.95:4")
            }
            try self.init((1...t).map { i in f * (1 - pow(1 - Double(i) / Double(t), 3)) })
            return
        }
        let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
            throw PruningError.invalidSetting(name: "schedule", value: text, reason: "expected sparsities, comma-separated, or cubic:FINAL:STAGES")
        }
        try self.init(values.map { $0! })
    }
}
