// Philox4x32-10: the counter-based block function of Salmon, Moraes, Dror & Shaw,
// "Parallel random numbers: as easy as 1, 2, 3" (SC'11), as in the Random123 library.
//
// Names inside this file: `c` is the 4-word counter block, `k` the 2-word key,
// M0/M1 the round multipliers, W0/W1 the Weyl key increments.

/// The Philox4x32-10 block function: a keyed bijection on 128-bit counters.
///
/// One round maps counter `(c0, c1, c2, c3)` with key `(k0, k1)` to
/// `(hi(M1·c2) ⊕ c1 ⊕ k0, lo(M1·c2), hi(M0·c0) ⊕ c3 ⊕ k1, lo(M0·c0))`, with
/// M0 = 0xD2511F53, M1 = 0xCD9E8D57 and `hi`/`lo` the halves of the 64-bit product.
/// Between rounds the key is bumped by the Weyl increments W0 = 0x9E3779B9, W1 = 0xBB67AE85.
/// Ten rounds; the output matches Random123's `philox4x32(ctr, key)` word for word
/// (checked against its published known-answer vectors in `PhiloxTests`).
public enum Philox4x32 {
    /// A 128-bit counter block (also the output block), word 0 first.
    public typealias Block = (UInt32, UInt32, UInt32, UInt32)
    /// A 64-bit key, word 0 first.
    public typealias Key = (UInt32, UInt32)

    /// Round multiplier for words 0 (M0).
    public static let multiplier0: UInt32 = 0xD251_1F53
    /// Round multiplier for words 2 (M1).
    public static let multiplier1: UInt32 = 0xCD9E_8D57
    /// Weyl increment of key word 0 (golden ratio, W0).
    public static let weyl0: UInt32 = 0x9E37_79B9
    /// Weyl increment of key word 1 (√3 − 1, W1).
    public static let weyl1: UInt32 = 0xBB67_AE85
    /// Number of rounds.
    public static let rounds = 10

    /// One Philox round on `c` with round key `(k0, k1)`.
    @inlinable @inline(__always)
    static func round(_ c: Block, _ k0: UInt32, _ k1: UInt32) -> Block {
        let p0 = UInt64(0xD251_1F53 as UInt32) &* UInt64(c.0)
        let p1 = UInt64(0xCD9E_8D57 as UInt32) &* UInt64(c.2)
        return (
            UInt32(truncatingIfNeeded: p1 >> 32) ^ c.1 ^ k0,
            UInt32(truncatingIfNeeded: p1),
            UInt32(truncatingIfNeeded: p0 >> 32) ^ c.3 ^ k1,
            UInt32(truncatingIfNeeded: p0)
        )
    }

    /// Philox4x32-10 of `counter` under `key`: ten rounds, the key bumped by (W0, W1) between rounds.
    ///
    /// A pure function: equal inputs give equal outputs on every machine, and distinct counters
    /// under one key give distinct outputs (each round is a bijection of the counter).
    @inlinable
    public static func block(counter: Block, key: Key) -> Block {
        var c = counter
        var k0 = key.0, k1 = key.1
        c = round(c, k0, k1)
        // Rounds 2…10, each after one key bump.
        for _ in 1..<10 {
            k0 = k0 &+ 0x9E37_79B9
            k1 = k1 &+ 0xBB67_AE85
            c = round(c, k0, k1)
        }
        return c
    }
}
