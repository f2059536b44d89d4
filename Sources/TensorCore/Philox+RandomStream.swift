// A keyed, seekable stream of Philox4x32-10 blocks.
//
// Mapping of (seed, indices, block) to Philox inputs — the contract every caller relies on
// for results that do not depend on the number of MPI ranks:
//
//   key     = (low 32 bits of seed, high 32 bits of seed)
//   counter = (block, i0, i1, i2)
//
// `block` is the stream's running block counter (0, 1, 2, …, at most 2³² − 1), and
// (i0, i1, i2) are three 32-bit stream indices. The map (seed, i0, i1, i2, block) →
// (key, counter) is a bijection onto all 192 input bits, so distinct (seed, indices, block)
// never share a Philox input: streams never overlap, for every value of every index.
// The named form (example, phase, chain, step) packs into the same three words as
//   i0 = example, i1 = chain, i2 = phase << 24 | step   (phase < 2⁸, step < 2²⁴),
// which is injective on those documented ranges.

/// A deterministic random stream identified by `(seed, i0, i1, i2)` (Philox4x32-10, counter-based).
///
/// The k-th block of a stream is `Philox4x32.block(counter: (k, i0, i1, i2), key: (seedLo, seedHi))`,
/// so a stream's numbers depend only on its identity and position — never on what was drawn
/// before from any other stream, on which rank draws them, or in which order streams are used.
/// A stream holds at most 2³² blocks (2³⁴ 32-bit words); running past the end is a
/// programmer error (precondition).
///
/// Scalar draws (`nextUInt32`, `nextUniform`, `nextGaussian`, …) consume the stream word by
/// word. Bulk fills (`fillGaussian`, `fillUniform`) start at the next block boundary: they
/// discard any words or spare Gaussian left over from scalar draws, so a bulk fill's output
/// depends only on the block it starts at.
public struct RandomStream: Sendable {
    /// The 64-bit seed (the Philox key).
    public let seed: UInt64
    /// The three 32-bit stream indices (counter words 1, 2, 3).
    public let indices: (UInt32, UInt32, UInt32)

    @usableFromInline let key: Philox4x32.Key
    /// Index of the next block to generate; `UInt64` so that "exhausted" (2³²) is representable.
    @usableFromInline var next: UInt64 = 0
    /// The current block's words and how many of them have been used (4 = none left).
    @usableFromInline var buffer: Philox4x32.Block = (0, 0, 0, 0)
    @usableFromInline var used: Int = 4
    /// The second Box–Muller output of the last scalar Gaussian pair, if not yet returned.
    @usableFromInline var spare: Double? = nil

    /// Number of blocks in one stream (2³²).
    public static let blockLimit: UInt64 = 1 << 32

    /// The stream `(seed, i0, i1, i2)`, positioned at block 0.
    ///
    /// key = (seed mod 2³², seed >> 32); counter = (block, i0, i1, i2).
    public init(seed: UInt64, _ i0: UInt32 = 0, _ i1: UInt32 = 0, _ i2: UInt32 = 0) {
        self.seed = seed
        self.indices = (i0, i1, i2)
        self.key = (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
    }

    /// The noise stream of one work item: `(seed, example, phase, chain, step)`.
    ///
    /// Packs into `init(seed:_:_:_:)` as i0 = example, i1 = chain, i2 = phase << 24 | step;
    /// injective for phase < 256 and step < 2²⁴ (checked by precondition).
    public init(seed: UInt64, example: UInt32, phase: UInt32, chain: UInt32 = 0, step: UInt32 = 0) {
        precondition(phase < (1 << 8), "phase \(phase) does not fit 8 bits")
        precondition(step < (1 << 24), "step \(step) does not fit 24 bits")
        self.init(seed: seed, example, chain, phase << 24 | step)
    }

    /// Index of the next block the stream will generate (its position, in blocks).
    public var blockPosition: UInt64 { next }

    /// Move to the start of block `block` (random access), dropping any partial block and spare Gaussian.
    public mutating func seek(toBlock block: UInt64) {
        precondition(block <= Self.blockLimit, "block \(block) is past the end of the stream")
        next = block
        used = 4
        spare = nil
    }

    /// The Philox counter of block `block` of this stream: `(block, i0, i1, i2)`.
    @inlinable
    public func counter(ofBlock block: UInt64) -> Philox4x32.Block {
        (UInt32(truncatingIfNeeded: block), indices.0, indices.1, indices.2)
    }

    /// Block `block` of this stream, without moving the stream.
    @inlinable
    public func block(at block: UInt64) -> Philox4x32.Block {
        precondition(block < Self.blockLimit, "block \(block) is past the end of the stream")
        return Philox4x32.block(counter: counter(ofBlock: block), key: key)
    }

    /// The next whole block: drops any partial block and spare Gaussian, returns 4 fresh words.
    @inlinable
    public mutating func nextBlock() -> Philox4x32.Block {
        precondition(next < Self.blockLimit, "random stream exhausted (2^32 blocks)")
        let b = Philox4x32.block(counter: counter(ofBlock: next), key: key)
        next += 1
        used = 4
        spare = nil
        return b
    }

    /// Claim `count` whole blocks for a bulk fill, starting at the next block boundary.
    /// Returns the first block's index; afterwards the stream stands at the block after the last.
    @usableFromInline
    mutating func reserveBlocks(_ count: Int) -> UInt64 {
        precondition(count >= 0)
        let first = next
        precondition(first + UInt64(count) <= Self.blockLimit, "random stream exhausted (2^32 blocks)")
        next = first + UInt64(count)
        used = 4
        spare = nil
        return first
    }

    /// The next 32-bit word, uniform on [0, 2³²).
    @inlinable
    public mutating func nextUInt32() -> UInt32 {
        if used == 4 {
            precondition(next < Self.blockLimit, "random stream exhausted (2^32 blocks)")
            buffer = Philox4x32.block(counter: counter(ofBlock: next), key: key)
            next += 1
            used = 0
        }
        defer { used += 1 }
        switch used {
        case 0: return buffer.0
        case 1: return buffer.1
        case 2: return buffer.2
        default: return buffer.3
        }
    }

    /// The next 64-bit word, uniform on [0, 2⁶⁴): two 32-bit words, the first as the high half.
    @inlinable
    public mutating func nextUInt64() -> UInt64 {
        let hi = UInt64(nextUInt32())
        return hi << 32 | UInt64(nextUInt32())
    }
}
