import Testing

@testable import TensorCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Known-answer vectors for Philox4x32-10 from Random123's `kat_vectors` file
// (columns: name, rounds, CTR[4], KEY[2], EXPECTED[4], all hex):
//   - the three canonical lines (zeros, all-ones, pi digits) of DEShawResearch/random123
//     `tests/kat_vectors`, read here as quoted verbatim by independent ports (E. Sarmas'
//     philox.py test cases, several Rust/Go Philox crates' KAT tests — all agree);
//   - the single-bit and pi-digit counter/key lines from girving/random123-manual
//     `examples/kat_vectors` (commit 61e84792), Random123's extended vector file.
struct KAT: Sendable, CustomTestStringConvertible {
    let counter: [UInt32]
    let key: [UInt32]
    let expected: [UInt32]
    var testDescription: String { "ctr \(counter.map(hex)) key \(key.map(hex))" }
}

private func hex(_ x: UInt32) -> String { String(x, radix: 16) }

let philoxKATs: [KAT] = [
    // philox4x32 10 00000000 00000000 00000000 00000000 00000000 00000000   6627e8d5 e169c58d bc57ac4c 9b00dbd8
    KAT(
        counter: [0, 0, 0, 0], key: [0, 0],
        expected: [0x6627_E8D5, 0xE169_C58D, 0xBC57_AC4C, 0x9B00_DBD8]),
    // philox4x32 10 ffffffff ffffffff ffffffff ffffffff ffffffff ffffffff   408f276d 41c83b0e a20bc7c6 6d5451fd
    KAT(
        counter: [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF], key: [0xFFFF_FFFF, 0xFFFF_FFFF],
        expected: [0x408F_276D, 0x41C8_3B0E, 0xA20B_C7C6, 0x6D54_51FD]),
    // philox4x32 10 243f6a88 85a308d3 13198a2e 03707344 a4093822 299f31d0   d16cfe09 94fdcceb 5001e420 24126ea1
    KAT(
        counter: [0x243F_6A88, 0x85A3_08D3, 0x1319_8A2E, 0x0370_7344], key: [0xA409_3822, 0x299F_31D0],
        expected: [0xD16C_FE09, 0x94FD_CCEB, 0x5001_E420, 0x2412_6EA1]),
    // philox4x32 10 00000001 00000000 00000000 00000000   00000001 00000000   ac08141b dfc5ccbe 79c07a47 a7f66093
    KAT(
        counter: [1, 0, 0, 0], key: [1, 0],
        expected: [0xAC08_141B, 0xDFC5_CCBE, 0x79C0_7A47, 0xA7F6_6093]),
    // philox4x32 10 00000000 00000000 00000000 ffffffff   00000000 80000000   09812238 47b8470d 3e0d0a26 92d96c9a
    KAT(
        counter: [0, 0, 0, 0xFFFF_FFFF], key: [0, 0x8000_0000],
        expected: [0x0981_2238, 0x47B8_470D, 0x3E0D_0A26, 0x92D9_6C9A]),
    // philox4x32 10 a4093822 299f31d0 082efa98 ec4e6c89   00000000 ffffffff   9fcce05d 837d3f3c 5cdf3e61 db2544c0
    KAT(
        counter: [0xA409_3822, 0x299F_31D0, 0x082E_FA98, 0xEC4E_6C89], key: [0, 0xFFFF_FFFF],
        expected: [0x9FCC_E05D, 0x837D_3F3C, 0x5CDF_3E61, 0xDB25_44C0]),
]

private func words(_ b: Philox4x32.Block) -> [UInt32] { [b.0, b.1, b.2, b.3] }

@Suite("Philox4x32-10 and RandomStream")
struct PhiloxTests {
    // MARK: Block function

    @Test("Random123 known-answer vectors", arguments: philoxKATs)
    func knownAnswers(_ v: KAT) {
        let out = Philox4x32.block(
            counter: (v.counter[0], v.counter[1], v.counter[2], v.counter[3]),
            key: (v.key[0], v.key[1]))
        #expect(words(out) == v.expected)
    }

    // MARK: Stream identity and the (seed, indices) → (key, counter) contract

    @Test("block k of stream (seed, i0, i1, i2) is Philox(counter: (k, i0, i1, i2), key: seed halves)")
    func streamMapping() {
        var s = RandomStream(seed: 0x0123_4567_89AB_CDEF, 5, 6, 7)
        for k: UInt32 in 0..<4 {
            let expected = Philox4x32.block(counter: (k, 5, 6, 7), key: (0x89AB_CDEF, 0x0123_4567))
            #expect(words(s.nextBlock()) == words(expected))
        }
        #expect(s.blockPosition == 4)
    }

    @Test("named (example, phase, chain, step) packs as (example, chain, phase<<24 | step)")
    func namedPacking() {
        var a = RandomStream(seed: 42, example: 9, phase: 2, chain: 4, step: 77)
        var b = RandomStream(seed: 42, 9, 4, 2 << 24 | 77)
        #expect(words(a.nextBlock()) == words(b.nextBlock()))
        // Phase and step occupy disjoint bits: (phase 1, step 0) ≠ (phase 0, step 2^23)…
        var c = RandomStream(seed: 42, example: 9, phase: 1, chain: 4, step: 0)
        var d = RandomStream(seed: 42, example: 9, phase: 0, chain: 4, step: 1 << 23)
        #expect(words(c.nextBlock()) != words(d.nextBlock()))
    }

    @Test("scalar words run through blocks in order, across block boundaries")
    func scalarWordsFollowBlocks() {
        var s = RandomStream(seed: 7, 1, 2, 3)
        var drawn: [UInt32] = []
        for _ in 0..<10 { drawn.append(s.nextUInt32()) }
        let ref = RandomStream(seed: 7, 1, 2, 3)
        let expected = words(ref.block(at: 0)) + words(ref.block(at: 1)) + words(ref.block(at: 2))
        #expect(drawn == Array(expected.prefix(10)))
        #expect(s.blockPosition == 3)
        // 64-bit words: first word is the high half.
        var t = RandomStream(seed: 7, 1, 2, 3)
        #expect(t.nextUInt64() == UInt64(expected[0]) << 32 | UInt64(expected[1]))
    }

    @Test("seek gives random access: seek(k) then nextBlock == block(at: k)")
    func seek() {
        var s = RandomStream(seed: 99, 3)
        _ = s.nextUInt32()
        _ = s.nextGaussian()
        s.seek(toBlock: 1000)
        #expect(words(s.nextBlock()) == words(s.block(at: 1000)))
        #expect(s.blockPosition == 1001)
    }

    @Test("a stream's numbers never depend on draws from other streams or on who draws them")
    func independentOfOtherDraws() {
        let seed: UInt64 = 2024
        // "One rank": examples 0..<8 in order, fresh streams.
        var serial: [[Float]] = []
        for e: UInt32 in 0..<8 {
            var s = RandomStream(seed: seed, example: e, phase: 1)
            serial.append((0..<33).map { _ in s.nextGaussianFloat() })
        }
        // "Two ranks": each first burns a million words from an unrelated stream, then handles a
        // strided share of the examples in reverse order, interleaving scalar and bulk draws of another stream.
        var sharded = [[Float]](repeating: [], count: 8)
        for rank: UInt32 in 0..<2 {
            var other = RandomStream(seed: seed &+ 1, rank)
            for _ in 0..<1_000_000 { _ = other.nextUInt32() }
            for e in stride(from: 7 - Int(rank), through: 0, by: -2) {
                var s = RandomStream(seed: seed, example: UInt32(e), phase: 1)
                var values: [Float] = []
                for _ in 0..<33 {
                    values.append(s.nextGaussianFloat())
                    _ = other.nextGaussian()
                }
                sharded[e] = values
            }
        }
        #expect(serial == sharded)
    }

    @Test("different seeds or indices give different numbers; no collisions among 20k streams")
    func distinctStreams() {
        let base = RandomStream(seed: 1, 2, 3, 4).block(at: 0)
        for other in [
            RandomStream(seed: 2, 2, 3, 4), RandomStream(seed: 1 | 1 << 32, 2, 3, 4),
            RandomStream(seed: 1, 3, 3, 4), RandomStream(seed: 1, 2, 4, 4),
            RandomStream(seed: 1, 2, 3, 5),
        ] {
            #expect(words(other.block(at: 0)) != words(base))
        }
        var firstWords = Set<UInt64>()
        for e: UInt32 in 0..<100 {
            for chain: UInt32 in 0..<100 {
                for phase: UInt32 in 0..<2 {
                    var s = RandomStream(seed: 5, example: e, phase: phase, chain: chain)
                    firstWords.insert(s.nextUInt64())
                }
            }
        }
        #expect(firstWords.count == 20_000)
    }

    // MARK: Uniforms

    @Test("unit conversions stay inside their intervals at the extreme words")
    func unitEndpoints() {
        #expect(RandomStream.unitFloat(0) == 0)
        #expect(RandomStream.unitFloat(.max) < 1)
        #expect(RandomStream.unitFloat(.max) == 1 - 0x1p-24)
        #expect(RandomStream.unitFloatPositive(0) == 0x1p-24)
        #expect(RandomStream.unitFloatPositive(.max) == 1)
        #expect(RandomStream.unitDouble(0, 0) == 0)
        #expect(RandomStream.unitDouble(.max, .max) == 1 - 0x1p-53)
        #expect(RandomStream.unitDoublePositive(0, 0) == 0x1p-53)
        #expect(RandomStream.unitDoublePositive(.max, .max) == 1)
    }

    @Test("fillUniform: range [0,1), mean, and a 100-bin chi-square on 10^6 draws")
    func uniformFill() {
        var s = RandomStream(seed: 11, 1)
        var xs = [Float](repeating: -1, count: 1_000_000)
        xs.withUnsafeMutableBufferPointer { s.fillUniform($0) }
        #expect(xs.allSatisfy { $0 >= 0 && $0 < 1 })
        let mean = xs.reduce(0.0) { $0 + Double($1) } / Double(xs.count)
        // sd of the mean = sqrt(1/12 / 1e6) ≈ 2.9e-4; 5 sd.
        #expect(abs(mean - 0.5) < 1.5e-3)
        var bins = [Int](repeating: 0, count: 100)
        for x in xs { bins[Int(x * 100)] += 1 }
        let e = Double(xs.count) / 100
        let chi2 = bins.reduce(0.0) { $0 + (Double($1) - e) * (Double($1) - e) / e }
        // 99 degrees of freedom: mean 99, sd 14; fail beyond mean + 6 sd (or an implausibly perfect fit).
        #expect(chi2 < 183 && chi2 > 40)
        // Bulk uniforms are the scalar words' conversions, four per block.
        var r = RandomStream(seed: 11, 1)
        #expect(Array(xs.prefix(9)) == (0..<9).map { _ in r.nextUniformFloat() })
    }

    @Test("fillUniform with a range, odd counts, and stream advance of ceil(n/4) blocks")
    func uniformRange() {
        var s = RandomStream(seed: 3)
        var xs = [Float](repeating: .nan, count: 10_001)
        xs.withUnsafeMutableBufferPointer { s.fillUniform($0, low: -2, high: 3) }
        #expect(xs.allSatisfy { $0 >= -2 && $0 < 3 })
        #expect(xs.min()! < -1.99 && xs.max()! > 2.99)
        #expect(s.blockPosition == 2501)
        var t = RandomStream(seed: 3)
        let u = t.uniform(shape: [2, 3], low: 0, high: 1)
        #expect(u.shape == [2, 3] && u.scalars.allSatisfy { $0 >= 0 && $0 < 1 })
    }

    @Test("Double uniforms: [0,1) and (0,1], mean near 1/2")
    func doubleUniforms() {
        var s = RandomStream(seed: 8)
        var sum = 0.0
        var inRange = true
        for _ in 0..<100_000 {
            let a = s.nextUniform(), b = s.nextUniformPositive(), c = s.nextUniformFloatPositive()
            inRange = inRange && a >= 0 && a < 1 && b > 0 && b <= 1 && c > 0 && c <= 1
            sum += a
        }
        #expect(inRange)
        // sd of the mean ≈ 9.1e-4; 5 sd.
        #expect(abs(sum / 100_000 - 0.5) < 4.6e-3)
    }

    // MARK: Gaussians

    @Test("fillGaussian: mean, variance, kurtosis and tail fractions on 10^6 draws")
    func gaussianMoments() {
        var s = RandomStream(seed: 12345, example: 0, phase: 0)
        let n = 1_000_000
        var xs = [Float](repeating: .nan, count: n)
        xs.withUnsafeMutableBufferPointer { s.fillGaussian($0) }
        var m1 = 0.0, m2 = 0.0, m4 = 0.0
        var beyond2 = 0, beyond3 = 0
        for x in xs {
            let z = Double(x)
            m1 += z; m2 += z * z; m4 += z * z * z * z
            if abs(z) > 2 { beyond2 += 1 }
            if abs(z) > 3 { beyond3 += 1 }
        }
        m1 /= Double(n); m2 /= Double(n); m4 /= Double(n)
        // Tolerances ≈ 5–6 standard errors at n = 1e6:
        // se(mean) = 1e-3, se(E z²) = √2e-3 ≈ 1.4e-3, se(E z⁴) = √96e-3 ≈ 9.8e-3,
        // P(|z|>2) = 0.0455003 (se 2.1e-4), P(|z|>3) = 0.0026998 (se 5.2e-5).
        #expect(abs(m1) < 5e-3)
        #expect(abs(m2 - 1) < 8e-3)
        #expect(abs(m4 - 3) < 0.06)
        #expect(abs(Double(beyond2) / Double(n) - 0.0455003) < 1.3e-3)
        #expect(abs(Double(beyond3) / Double(n) - 0.0026998) < 3e-4)
        #expect(xs.allSatisfy { $0.isFinite && abs($0) < 8.6 })
    }

    @Test("sinCos2Pi matches libm sin/cos of 2πu within 1e-15, including every octant boundary")
    func sinCosReference() {
        var us: [Double] = (0...64).map { Double($0) / 64 }.filter { $0 < 1 }
        us += [1 - 0x1p-53, 0x1p-53, 0.125 - 0x1p-53, 0.375 + 0x1p-53]
        var s = RandomStream(seed: 60)
        for _ in 0..<20_000 { us.append(s.nextUniform()) }
        var worst = 0.0
        for u in us {
            let (sn, cs) = RandomStream.sinCos2Pi(u)
            worst = max(worst, abs(sn - sin(2 * .pi * u)), abs(cs - cos(2 * .pi * u)))
        }
        #expect(worst < 1e-15)
    }

    @Test("fillGaussian equals its naive twin (Box–Muller per block) and the scalar path")
    func gaussianBulkMatchesReference() {
        let n = 1001
        var s = RandomStream(seed: 77, 4, 5, 6)
        _ = s.nextUInt32()  // a partial block is discarded by the bulk fill
        var xs = [Float](repeating: .nan, count: n)
        xs.withUnsafeMutableBufferPointer { s.fillGaussian($0, mean: 0.25, std: 2) }
        #expect(s.blockPosition == 1 + 501)
        let ref = RandomStream(seed: 77, 4, 5, 6)
        var expected: [Float] = []
        for j in 0..<501 {
            let (z0, z1) = RandomStream.gaussianPair(ref.block(at: UInt64(1 + j)))
            expected.append(Float(0.25 + 2 * z0))
            if expected.count < n { expected.append(Float(0.25 + 2 * z1)) }
        }
        #expect(xs == expected)
        // Scalar Gaussians from a block boundary give the same sequence.
        var t = RandomStream(seed: 77, 4, 5, 6)
        t.seek(toBlock: 1)
        #expect((0..<n).map { _ in t.nextGaussianFloat(mean: 0.25, std: 2) } == expected)
    }

    @Test("fillGaussian into a tensor with mean and std")
    func gaussianTensor() {
        var s = RandomStream(seed: 5)
        let t = s.gaussian(shape: [100, 1000], mean: 3, std: 0.5)
        #expect(t.shape == [100, 1000])
        let mean = t.scalars.reduce(0.0) { $0 + Double($1) } / 1e5
        let variance = t.scalars.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / 1e5
        // se(mean) = 0.5/√1e5 ≈ 1.6e-3; se(var) = 0.25·√(2/1e5) ≈ 1.1e-3.
        #expect(abs(mean - 3) < 8e-3)
        #expect(abs(variance - 0.25) < 6e-3)
        var u = RandomStream(seed: 5)
        var same = Tensor(shape: [100, 1000])
        u.fillGaussian(&same, mean: 3, std: 0.5)
        #expect(same == t)
    }

    // MARK: Integers, shuffles, subsets

    @Test("randomInt(below:) covers [0, n) evenly (chi-square)")
    func boundedIntegers() {
        var s = RandomStream(seed: 31)
        var counts = [Int](repeating: 0, count: 6)
        for _ in 0..<60_000 { counts[s.randomInt(below: 6)] += 1 }
        let chi2 = counts.reduce(0.0) { $0 + (Double($1) - 10_000) * (Double($1) - 10_000) / 10_000 }
        #expect(chi2 < 25)  // 5 dof: P(χ² > 25) ≈ 1.4e-4
        #expect((0..<1000).allSatisfy { _ in s.randomInt(below: 1) == 0 })
    }

    @Test("no modulo bias: n = 0xAAAA…AB splits evenly at n/2 (modulo reduction would give 2/3)")
    func noModuloBias() {
        var s = RandomStream(seed: 32)
        let n: UInt64 = 0xAAAA_AAAA_AAAA_AAAB
        var low = 0
        let trials = 20_000
        var inRange = true
        for _ in 0..<trials {
            let x = s.nextUInt64(below: n)
            inRange = inRange && x < n
            if x < n / 2 { low += 1 }
        }
        #expect(inRange)
        // se = 0.5/√2e4 ≈ 3.5e-3; plain `W % n` would land near 0.667.
        #expect(abs(Double(low) / Double(trials) - 0.5) < 0.02)
    }

    @Test("shuffle is a permutation, and all 6 orders of 3 items are equally likely")
    func shuffleUniform() {
        var s = RandomStream(seed: 40)
        var big = Array(0..<1000)
        s.shuffle(&big)
        #expect(big.sorted() == Array(0..<1000))
        #expect(big != Array(0..<1000))
        var counts: [[Int]: Int] = [:]
        for _ in 0..<60_000 {
            var a = [0, 1, 2]
            s.shuffle(&a)
            counts[a, default: 0] += 1
        }
        #expect(counts.count == 6)
        let chi2 = counts.values.reduce(0.0) { $0 + (Double($1) - 10_000) * (Double($1) - 10_000) / 10_000 }
        #expect(chi2 < 25)
        var p = RandomStream(seed: 41)
        #expect(p.permutation(50).sorted() == Array(0..<50))
    }

    @Test("sample(k, from: n): distinct, in range, equals dense partial Fisher–Yates, uniform inclusion")
    func sampleWithoutReplacement() {
        var s = RandomStream(seed: 50)
        let picked = s.sample(300, from: 1000)
        #expect(picked.count == 300 && Set(picked).count == 300 && picked.allSatisfy { (0..<1000).contains($0) })
        #expect(s.sample(0, from: 5).isEmpty)
        #expect(s.sample(5, from: 5).sorted() == [0, 1, 2, 3, 4])

        // Naive twin: a dense array with the same draws.
        var a = RandomStream(seed: 51), b = RandomStream(seed: 51)
        let sparse = a.sample(20, from: 40)
        var dense = Array(0..<40)
        for i in 0..<20 { dense.swapAt(i, i + b.randomInt(below: 40 - i)) }
        #expect(sparse == Array(dense.prefix(20)))

        // Each of 10 items is included with probability 3/10.
        var c = RandomStream(seed: 52)
        var included = [Int](repeating: 0, count: 10)
        for _ in 0..<20_000 { for i in c.sample(3, from: 10) { included[i] += 1 } }
        // Expected 6000 each, se ≈ 65; allow 5 se.
        #expect(included.allSatisfy { abs($0 - 6000) < 325 })
    }
}
