// SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014):
// state += 0x9E3779B97F4A7C15; z = state; z = (z ^ z>>30)·0xBF58476D1CE4E5B9; z = (z ^ z>>27)·0x94D049BB133111EB;
// return z ^ z>>31. Used for data shuffling and splits, the keys of pruning runs and the test data of every test
// target, so results are identical on every platform and Swift version (the standard library's shuffle algorithm is
// not specified). The noise of smoothing and training comes from Philox (`RandomStream`), never from this.

/// A small seeded 64-bit generator with a platform-independent output sequence.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The internal counter.
    public private(set) var state: UInt64

    /// A generator whose first output is `mix(seed + 0x9E3779B97F4A7C15)`.
    public init(seed: UInt64) { state = seed }

    /// An independent stream for `(seed, stream)`, e.g. (data seed, epoch).
    public init(seed: UInt64, stream: UInt64) {
        state = SplitMix64.mix(seed ^ SplitMix64.mix(stream &+ 0x632B_E59B_D9B4_E019))
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    /// The SplitMix64 finalizer, a bijective 64-bit mixing function.
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform on [0, 1) from the top 53 bits of `next()`.
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// `mix(a ⊕ b·0x9E3779B97F4A7C15)`: a key derived from two words (e.g. (seed, stage) → a stage's key).
    public static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 { mix(a ^ (b &* 0x9E37_79B9_7F4A_7C15)) }

    /// Uniform integer in `0..<bound` without modulo bias (Lemire's multiply-shift with rejection).
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        let n = UInt64(bound)
        let threshold = (0 &- n) % n  // 2^64 mod n
        while true {
            let product = next().multipliedFullWidth(by: n)
            if product.low >= threshold { return Int(product.high) }
        }
    }

    /// Fisher–Yates shuffle in place: for i from count−1 down to 1, swap element i with element `nextInt(below: i+1)`.
    public mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            let j = nextInt(below: i + 1)
            if i != j { array.swapAt(i, j) }
        }
    }

    /// A uniformly random permutation of `0..<n`.
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        shuffle(&p)
        return p
    }
}
