// Distributions drawn from a RandomStream: uniforms, Gaussians (Box–Muller), bounded integers,
// shuffles and subsets, and bulk fills of Float buffers and tensors.
//
// Word-to-number conventions (w = one 32-bit word, W = two words as a 64-bit value, first word high):
//   Float  in [0, 1):  (w >> 8) · 2⁻²⁴          Float  in (0, 1]:  ((w >> 8) + 1) · 2⁻²⁴
//   Double in [0, 1):  (W >> 11) · 2⁻⁵³         Double in (0, 1]:  ((W >> 11) + 1) · 2⁻⁵³
//   Gaussian pair from one block (w0, w1, w2, w3), in Double:
//     u1 = ((w0:w1 >> 11) + 1) · 2⁻⁵³ ∈ (0, 1],  u2 = (w2:w3 >> 11) · 2⁻⁵³ ∈ [0, 1)
//     r = √(−2 ln u1),  θ = 2π u2,  (z0, z1) = (r cos θ, r sin θ)
//     (ln from libm; sin/cos of 2π u2 by `sinCos2Pi`, octant reduction + polynomials, platform-independent)
//   Float outputs are Float(mean + std · z) computed in Double and rounded once; |z| ≤ 8.58.
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension RandomStream {
    // MARK: Word conversions (shared by scalar and bulk paths, so they agree bit for bit)

    @inlinable @inline(__always)
    static func unitFloat(_ w: UInt32) -> Float { Float(w >> 8) * 0x1p-24 }

    @inlinable @inline(__always)
    static func unitFloatPositive(_ w: UInt32) -> Float { Float((w >> 8) + 1) * 0x1p-24 }

    @inlinable @inline(__always)
    static func unitDouble(_ hi: UInt32, _ lo: UInt32) -> Double {
        Double((UInt64(hi) << 32 | UInt64(lo)) >> 11) * 0x1p-53
    }

    @inlinable @inline(__always)
    static func unitDoublePositive(_ hi: UInt32, _ lo: UInt32) -> Double {
        Double(((UInt64(hi) << 32 | UInt64(lo)) >> 11) + 1) * 0x1p-53
    }

    /// Box–Muller: two independent standard normals from one block (see the file header).
    @inlinable @inline(__always)
    static func gaussianPair(_ b: Philox4x32.Block) -> (Double, Double) {
        let u1 = unitDoublePositive(b.0, b.1)
        let u2 = unitDouble(b.2, b.3)
        let r = (-2 * log(u1)).squareRoot()
        let (s, c) = sinCos2Pi(u2)
        return (r * c, r * s)
    }

    /// (sin 2πu, cos 2πu) for u ∈ [0, 1), in plain Double arithmetic (a few ulps; same bits on every platform).
    ///
    /// Octant reduction is exact: t = 8u, k = ⌊t⌋, f = t − k; the reduced angle is
    /// x = f·π/4 (even k) or (1 − f)·π/4 (odd k), in [0, π/4], where Taylor polynomials through
    /// x¹⁵ (sin) and x¹⁶ (cos) are accurate to below 1e-16. The octant then picks which polynomial
    /// gives sin θ and cos θ and their signs. About 5× faster than libm `sin` + `cos` here.
    @inlinable @inline(__always)
    static func sinCos2Pi(_ u: Double) -> (sin: Double, cos: Double) {
        let t = u * 8
        let k = Int(t)
        let f = t - Double(k)
        let x = ((k & 1) == 1 ? 1 - f : f) * (Double.pi / 4)
        let x2 = x * x
        var ps = -1.0 / 1_307_674_368_000
        ps = ps * x2 + 1.0 / 6_227_020_800
        ps = ps * x2 - 1.0 / 39_916_800
        ps = ps * x2 + 1.0 / 362_880
        ps = ps * x2 - 1.0 / 5_040
        ps = ps * x2 + 1.0 / 120
        ps = ps * x2 - 1.0 / 6
        let sinX = x + x * x2 * ps
        var pc = 1.0 / 20_922_789_888_000
        pc = pc * x2 - 1.0 / 87_178_291_200
        pc = pc * x2 + 1.0 / 479_001_600
        pc = pc * x2 - 1.0 / 3_628_800
        pc = pc * x2 + 1.0 / 40_320
        pc = pc * x2 - 1.0 / 720
        pc = pc * x2 + 1.0 / 24
        pc = pc * x2 - 0.5
        let cosX = 1 + x2 * pc
        let swap = ((k + 1) >> 1) & 1 == 1  // octants 1, 2, 5, 6: sin θ = ±cos x
        let sinNegative = k >= 4  // octants 4…7
        let cosNegative = ((k + 2) >> 2) & 1 == 1  // octants 2…5
        let s = swap ? cosX : sinX
        let c = swap ? sinX : cosX
        return (sinNegative ? -s : s, cosNegative ? -c : c)
    }

    // MARK: Scalar draws

    /// Uniform Float on [0, 1): the top 24 bits of one word, times 2⁻²⁴.
    @inlinable
    public mutating func nextUniformFloat() -> Float { Self.unitFloat(nextUInt32()) }

    /// Uniform Float on (0, 1] (safe for `log`): (top 24 bits + 1) · 2⁻²⁴.
    @inlinable
    public mutating func nextUniformFloatPositive() -> Float { Self.unitFloatPositive(nextUInt32()) }

    /// Uniform Double on [0, 1): the top 53 bits of two words, times 2⁻⁵³.
    @inlinable
    public mutating func nextUniform() -> Double {
        let hi = nextUInt32()
        return Self.unitDouble(hi, nextUInt32())
    }

    /// Uniform Double on (0, 1] (safe for `log`): (top 53 bits of two words + 1) · 2⁻⁵³.
    @inlinable
    public mutating func nextUniformPositive() -> Double {
        let hi = nextUInt32()
        return Self.unitDoublePositive(hi, nextUInt32())
    }

    /// A standard normal N(0, 1) in Double (Box–Muller on four words; the pair's second value is
    /// kept and returned by the next call).
    @inlinable
    public mutating func nextGaussian() -> Double {
        if let z = spare {
            spare = nil
            return z
        }
        let b = (nextUInt32(), nextUInt32(), nextUInt32(), nextUInt32())
        let (z0, z1) = Self.gaussianPair(b)
        spare = z1
        return z0
    }

    /// A normal N(mean, std²) as Float: `Float(mean + std · z)` with z from `nextGaussian()`.
    @inlinable
    public mutating func nextGaussianFloat(mean: Float = 0, std: Float = 1) -> Float {
        Float(Double(mean) + Double(std) * nextGaussian())
    }

    /// Uniform integer on [0, n) without modulo bias (Lemire's multiply-and-reject on 64-bit words).
    ///
    /// Takes W = `nextUInt64()`, forms the 128-bit product W·n, and rejects while its low half is
    /// below 2⁶⁴ mod n; the high half is then exactly uniform on [0, n). Usually two words per draw.
    @inlinable
    public mutating func nextUInt64(below n: UInt64) -> UInt64 {
        precondition(n > 0, "upper bound must be positive")
        var m = nextUInt64().multipliedFullWidth(by: n)
        if m.low < n {
            let threshold = (0 &- n) % n  // 2⁶⁴ mod n
            while m.low < threshold {
                m = nextUInt64().multipliedFullWidth(by: n)
            }
        }
        return m.high
    }

    /// Uniform `Int` on [0, n), n > 0, without modulo bias (see `nextUInt64(below:)`).
    @inlinable
    public mutating func randomInt(below n: Int) -> Int {
        precondition(n > 0, "upper bound \(n) must be positive")
        return Int(nextUInt64(below: UInt64(n)))
    }

    // MARK: Permutations and subsets

    /// Shuffle `elements` in place (Fisher–Yates, from the last position down): every permutation
    /// is equally likely; draws `count − 1` bounded integers.
    public mutating func shuffle<C: MutableCollection & RandomAccessCollection>(_ elements: inout C) {
        let n = elements.count
        guard n > 1 else { return }
        let start = elements.startIndex
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = randomInt(below: i + 1)
            if j != i {
                elements.swapAt(elements.index(start, offsetBy: i), elements.index(start, offsetBy: j))
            }
        }
    }

    /// A uniformly random permutation of 0..<n.
    public mutating func permutation(_ n: Int) -> [Int] {
        precondition(n >= 0)
        var p = Array(0..<n)
        shuffle(&p)
        return p
    }

    /// `k` distinct indices drawn uniformly without replacement from 0..<n, in draw order.
    ///
    /// Partial Fisher–Yates over a virtual array 0..<n, with the displaced entries kept in a
    /// dictionary: O(k) time and memory for any n. Every ordered k-subset is equally likely;
    /// sort the result for a random k-subset in ascending order.
    public mutating func sample(_ k: Int, from n: Int) -> [Int] {
        precondition(k >= 0 && k <= n, "cannot sample \(k) of \(n) without replacement")
        var displaced: [Int: Int] = [:]
        displaced.reserveCapacity(k)
        var out: [Int] = []
        out.reserveCapacity(k)
        for i in 0..<k {
            let j = i + randomInt(below: n - i)
            let atJ = displaced[j] ?? j
            let atI = displaced[i] ?? i
            out.append(atJ)
            displaced[j] = atI
            displaced[i] = nil
        }
        return out
    }

    // MARK: Bulk fills (start at a block boundary; see the type's documentation)

    /// Fill `buffer` with N(mean, std²) Floats.
    ///
    /// Value 2j and 2j+1 are the Box–Muller pair of block (b + j), where b is the stream's next
    /// block; for odd counts the last pair's second value is dropped. Advances the stream by
    /// ⌈n/2⌉ blocks. Each value is `Float(mean + std · z)`, computed in Double.
    public mutating func fillGaussian(_ buffer: UnsafeMutableBufferPointer<Float>, mean: Float = 0, std: Float = 1) {
        let n = buffer.count
        let first = reserveBlocks((n + 1) / 2)
        guard n > 0, let out = buffer.baseAddress else { return }
        let mu = Double(mean), sigma = Double(std)
        let c = counter(ofBlock: first)
        let k = key
        let pairs = (n + 1) / 2
        // Three passes over chunks of blocks (Philox → uniforms, radius, angle → output) keep the
        // independent iterations of each pass together, so they pipeline and vectorize; the values
        // are exactly those of `gaussianPair` block by block (tested against it).
        let chunk = 128
        withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * chunk) { tmp in
            let radius = tmp.baseAddress!, angle = tmp.baseAddress! + chunk
            var base = 0
            while base < pairs {
                let m = min(chunk, pairs - base)
                for j in 0..<m {
                    let b = Philox4x32.block(
                        counter: (c.0 &+ UInt32(truncatingIfNeeded: base + j), c.1, c.2, c.3), key: k)
                    radius[j] = Self.unitDoublePositive(b.0, b.1)
                    angle[j] = Self.unitDouble(b.2, b.3)
                }
                for j in 0..<m { radius[j] = (-2 * log(radius[j])).squareRoot() }
                for j in 0..<m {
                    let (sn, cs) = Self.sinCos2Pi(angle[j])
                    let i = 2 * (base + j)
                    out[i] = Float(mu + sigma * (radius[j] * cs))
                    if i + 1 < n { out[i + 1] = Float(mu + sigma * (radius[j] * sn)) }
                }
                base += m
            }
        }
    }

    /// Fill `buffer` with uniform Floats on [low, high).
    ///
    /// Value 4j + w is word w of block (b + j), b the stream's next block, mapped to u ∈ [0, 1)
    /// by `(w >> 8) · 2⁻²⁴` and then to `Float(low + (high − low) · u)` computed in Double
    /// (clamped below `high`). Advances the stream by ⌈n/4⌉ blocks.
    public mutating func fillUniform(_ buffer: UnsafeMutableBufferPointer<Float>, low: Float = 0, high: Float = 1) {
        precondition(low < high, "empty range \(low)..<\(high)")
        let n = buffer.count
        let first = reserveBlocks((n + 3) / 4)
        guard n > 0, let out = buffer.baseAddress else { return }
        let c = counter(ofBlock: first)
        let k = key
        let unit = low == 0 && high == 1
        let lo = Double(low), width = Double(high) - Double(low)
        let below = high.nextDown
        @inline(__always) func map(_ w: UInt32) -> Float {
            let u = Self.unitFloat(w)
            return unit ? u : min(Float(lo + width * Double(u)), below)
        }
        let full = n / 4
        for j in 0..<full {
            let b = Philox4x32.block(counter: (c.0 &+ UInt32(truncatingIfNeeded: j), c.1, c.2, c.3), key: k)
            out[4 * j] = map(b.0)
            out[4 * j + 1] = map(b.1)
            out[4 * j + 2] = map(b.2)
            out[4 * j + 3] = map(b.3)
        }
        let rest = n - 4 * full
        if rest > 0 {
            let b = Philox4x32.block(counter: (c.0 &+ UInt32(truncatingIfNeeded: full), c.1, c.2, c.3), key: k)
            out[4 * full] = map(b.0)
            if rest > 1 { out[4 * full + 1] = map(b.1) }
            if rest > 2 { out[4 * full + 2] = map(b.2) }
        }
    }

    /// Fill `tensor` with N(mean, std²) Floats (row-major order; see `fillGaussian(_:mean:std:)` on buffers).
    public mutating func fillGaussian(_ tensor: inout Tensor, mean: Float = 0, std: Float = 1) {
        tensor.withUnsafeMutableBufferPointer { fillGaussian($0, mean: mean, std: std) }
    }

    /// Fill `tensor` with uniform Floats on [low, high) (see `fillUniform(_:low:high:)` on buffers).
    public mutating func fillUniform(_ tensor: inout Tensor, low: Float = 0, high: Float = 1) {
        tensor.withUnsafeMutableBufferPointer { fillUniform($0, low: low, high: high) }
    }

    /// A new tensor of `shape` with N(mean, std²) entries (same values as `fillGaussian`).
    public mutating func gaussian(shape: [Int], mean: Float = 0, std: Float = 1) -> Tensor {
        var t = Tensor(shape: shape)
        fillGaussian(&t, mean: mean, std: std)
        return t
    }

    /// A new tensor of `shape` with uniform entries on [low, high) (same values as `fillUniform`).
    public mutating func uniform(shape: [Int], low: Float = 0, high: Float = 1) -> Tensor {
        var t = Tensor(shape: shape)
        fillUniform(&t, low: low, high: high)
        return t
    }
}
