/// How the n samples of one (image, phase) are laid out as chains and blocks (docs/certificate.md §2, this project's layout).
///
/// `chains` chains share the n samples: chain c has length L_c = ⌊n/chains⌋ + (c < n mod chains ? 1 : 0)
/// (all chains of length ≥ 1 when n ≥ chains; with n < chains only the first n chains have a sample).
/// Sample (c, t) is step t of chain c. A block is `chainsPerBlock` consecutive chains run together as one batch
/// for `maxLength` steps; steps beyond a chain's length are computed (the batch shape is fixed) but not counted.
/// Serialized samples are those with t ≥ 1; their global index is the rank of (c, t) in chain-major order.
public struct ChainLayout: Sendable, Equatable {
    public let samples: Int, chains: Int, chainsPerBlock: Int

    public init(samples: Int, chains: Int, chainsPerBlock: Int) {
        precondition(samples >= 1 && chains >= 1 && chainsPerBlock >= 1 && chains % chainsPerBlock == 0)
        self.samples = samples; self.chains = chains; self.chainsPerBlock = chainsPerBlock
    }

    public var blockCount: Int { chains / chainsPerBlock }
    /// L_c.
    public func length(ofChain c: Int) -> Int { samples / chains + (c < samples % chains ? 1 : 0) }
    /// The longest chain (steps every block runs).
    public var maxLength: Int { length(ofChain: 0) }
    /// Chains [first, first + chainsPerBlock) of block b.
    public func chainRange(ofBlock b: Int) -> Range<Int> { (b * chainsPerBlock)..<((b + 1) * chainsPerBlock) }
    /// Samples with t ≥ 1.
    public var serializedSamples: Int { (0..<chains).reduce(0) { $0 + max(0, length(ofChain: $1) - 1) } }
    /// Global serialized index of (c, t ≥ 1): Σ_{c' < c} (L_c' − 1) + (t − 1).
    public func serializedIndex(chain c: Int, step t: Int) -> Int {
        precondition(t >= 1 && t < length(ofChain: c))
        var base = 0
        for k in 0..<c { base += max(0, length(ofChain: k) - 1) }
        return base + t - 1
    }

    /// Chain-major index of sample (c, t) among all samples of the phase: Σ_{c' < c} L_c' + t = c·q + min(c, r) + t
    /// (q = ⌊n/chains⌋, r = n mod chains). A block's samples are the contiguous range `sampleRange(ofBlock:)`.
    public func sampleIndex(chain c: Int, step t: Int) -> Int {
        precondition(t >= 0 && t < length(ofChain: c))
        return c * (samples / chains) + min(c, samples % chains) + t
    }

    /// The (chain, step) of a chain-major sample index (inverse of `sampleIndex`).
    public func chainAndStep(ofSample i: Int) -> (chain: Int, step: Int) {
        precondition(i >= 0 && i < samples)
        let q = samples / chains, r = samples % chains
        let long = r * (q + 1)  // samples of the r chains of length q + 1
        if i < long { return (i / (q + 1), i % (q + 1)) }
        return (r + (i - long) / q, (i - long) % q)
    }

    /// The chain-major sample indices of block b's counted samples.
    public func sampleRange(ofBlock b: Int) -> Range<Int> {
        let chains = chainRange(ofBlock: b)
        let start = chains.lowerBound * (samples / self.chains) + min(chains.lowerBound, samples % self.chains)
        let count = chains.reduce(0) { $0 + length(ofChain: $1) }
        return start..<(start + count)
    }
}
