import TensorCore

/// Sampling phases; each has its own noise streams (the phase is part of the noise key).
public enum SmoothingPhase: UInt32, Sendable, Codable, CaseIterable {
    /// n0 samples choosing ĉA.
    case selection = 0
    /// n fresh samples counting ĉA (in SRS, also the samples the audit re-solves).
    case estimation = 1
    /// PREDICT's n samples.
    case prediction = 2
    /// Stream of the audit's random permutation of the estimation samples (not a sampling phase itself).
    case auditPositions = 3
}

extension SmoothingConfiguration {
    /// Samples of a phase.
    public func samples(in phase: SmoothingPhase) -> Int { phase == .selection ? n0 : n }

    /// The chain layout of a phase: `chains` chains (fewer, rounded up to whole blocks, when a phase has fewer
    /// samples than chains, so no block is empty).
    public func layout(_ phase: SmoothingPhase) -> ChainLayout {
        let s = samples(in: phase)
        let used = min(s, chains)
        let c = ((used + chainsPerBlock - 1) / chainsPerBlock) * chainsPerBlock
        return ChainLayout(samples: s, chains: c, chainsPerBlock: chainsPerBlock)
    }

    /// True when a phase's samples are serialized (warm-started chains): SRS estimation and prediction.
    public func isSerialized(_ phase: SmoothingPhase) -> Bool { mode == .srs && phase != .selection }

    /// The work units of one image: (phase, block) pairs; estimation units need ĉA from selection first.
    public func blocks(_ phase: SmoothingPhase) -> Range<Int> { 0..<layout(phase).blockCount }
}

extension SmoothingConfiguration {
    /// The audit's positions of an image: the first `count` entries of a uniformly random permutation of the n
    /// estimation samples (chain-major indices), from a stream keyed by (seed, image) alone — independent of the
    /// noise and of every prediction. A longer prefix extends a shorter one.
    public func auditPositions(image: Int, count: Int) -> [Int] {
        var s = RandomStream(seed: seed, example: UInt32(image), phase: SmoothingPhase.auditPositions.rawValue)
        return s.sample(count, from: n)
    }
}
