/// Sampling phases; each has its own noise streams (the phase is part of the noise key).
public enum SmoothingPhase: UInt32, Sendable, Codable, CaseIterable {
    /// n0 samples choosing ĉA.
    case selection = 0
    /// n fresh samples counting ĉA (and, in SRS, the K-sample check).
    case estimation = 1
    /// PREDICT's n samples.
    case prediction = 2
    /// Stream of the seeded random K-subset of serialized samples (not a sampling phase itself).
    case checkSubset = 3
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
