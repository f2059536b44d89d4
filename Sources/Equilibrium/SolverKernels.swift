// Per-sample reductions used by the solvers: Float data, Double accumulation, 4 lanes so the loop vectorises
// (a single scalar Double sum is latency-bound). n = elements (D). Lanes are converted one by one: the generic
// SIMD8<Double>(SIMD8<Float>) conversion is not vectorised by the compiler and was 5× slower than scalar code.
// The order of additions depends on n alone, so results are deterministic and independent of the batch.

@inline(__always)
func widen(_ v: SIMD4<Float>) -> SIMD4<Double> {
    SIMD4<Double>(Double(v[0]), Double(v[1]), Double(v[2]), Double(v[3]))
}

/// Σ aⱼbⱼ over n elements, accumulated in Double.
@inline(__always)
func dotDouble(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Double {
    var acc = SIMD4<Double>()
    var j = 0
    while j + 4 <= n {
        let x = widen(UnsafeRawPointer(a + j).loadUnaligned(as: SIMD4<Float>.self))
        let y = widen(UnsafeRawPointer(b + j).loadUnaligned(as: SIMD4<Float>.self))
        acc += x * y
        j += 4
    }
    var s = acc.sum()
    while j < n { s += Double(a[j]) * Double(b[j]); j += 1 }
    return s
}

/// (‖f − x‖², ‖f‖²) over n elements, the difference taken in Float (as G = F − X is stored), sums in Double.
@inline(__always)
func residualSums(_ x: UnsafePointer<Float>, _ f: UnsafePointer<Float>, _ n: Int) -> (diff: Double, norm: Double) {
    var accD = SIMD4<Double>(), accN = SIMD4<Double>()
    var j = 0
    while j + 4 <= n {
        let xv = UnsafeRawPointer(x + j).loadUnaligned(as: SIMD4<Float>.self)
        let fv = UnsafeRawPointer(f + j).loadUnaligned(as: SIMD4<Float>.self)
        let d = widen(fv - xv)
        let v = widen(fv)
        accD += d * d
        accN += v * v
        j += 4
    }
    var sd = accD.sum(), sn = accN.sum()
    while j < n {
        let d = Double(f[j] - x[j]), v = Double(f[j])
        sd += d * d
        sn += v * v
        j += 1
    }
    return (sd, sn)
}

/// One pass over n elements for Anderson's history: writes g = f − x (Float; unless `storeG` is false, for a g no
/// later pass reads) and returns, in Double,
/// (‖g‖², ‖f‖²) — the same sums as `residualSums(x, f, n)` — and writes dots[k] = ⟨g, others[k]⟩, the same sum as
/// `dotDouble(g, others[k], n)`, for k < others.count. Each sum keeps its own 4-lane accumulator and order of
/// additions, so the results are bit-identical to the separate passes; up to 5 dots share the pass (accumulators in
/// registers), any further ones are summed over the stored g afterwards.
func fusedStoreSums(
    x: UnsafePointer<Float>, f: UnsafePointer<Float>, g: UnsafeMutablePointer<Float>, storeG: Bool = true,
    others: UnsafeBufferPointer<UnsafePointer<Float>>, dots: UnsafeMutablePointer<Double>, dim n: Int
) -> (diff: Double, norm: Double) {
    let c = min(others.count, 5)
    let storeG = storeG || others.count > c  // the dots beyond the pass read the stored g
    let sums: (diff: Double, norm: Double)
    switch c {
    case 0: sums = fusedPass(x, f, g, storeG, others, dots, n, count: 0)
    case 1: sums = fusedPass(x, f, g, storeG, others, dots, n, count: 1)
    case 2: sums = fusedPass(x, f, g, storeG, others, dots, n, count: 2)
    case 3: sums = fusedPass(x, f, g, storeG, others, dots, n, count: 3)
    case 4: sums = fusedPass(x, f, g, storeG, others, dots, n, count: 4)
    default: sums = fusedPass(x, f, g, storeG, others, dots, n, count: 5)
    }
    for k in c..<others.count { dots[k] = dotDouble(UnsafePointer(g), others[k], n) }
    return sums
}

/// `fusedStoreSums` with c ≤ 5 dots, c a constant after inlining (so the unused accumulators vanish).
@inline(__always)
private func fusedPass(
    _ x: UnsafePointer<Float>, _ f: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ storeG: Bool,
    _ others: UnsafeBufferPointer<UnsafePointer<Float>>, _ dots: UnsafeMutablePointer<Double>, _ n: Int,
    count c: Int
) -> (diff: Double, norm: Double) {
    var accD = SIMD4<Double>(), accN = SIMD4<Double>()
    var a0 = SIMD4<Double>(), a1 = SIMD4<Double>(), a2 = SIMD4<Double>(), a3 = SIMD4<Double>()
    var a4 = SIMD4<Double>()
    let o0 = c > 0 ? others[0] : f, o1 = c > 1 ? others[1] : f, o2 = c > 2 ? others[2] : f
    let o3 = c > 3 ? others[3] : f, o4 = c > 4 ? others[4] : f
    @inline(__always) func load(_ p: UnsafePointer<Float>, _ j: Int) -> SIMD4<Float> {
        UnsafeRawPointer(p + j).loadUnaligned(as: SIMD4<Float>.self)
    }
    var j = 0
    while j + 4 <= n {
        let fv = load(f, j)
        let gv = fv - load(x, j)
        if storeG { UnsafeMutableRawPointer(g + j).storeBytes(of: gv, as: SIMD4<Float>.self) }
        let d = widen(gv), v = widen(fv)
        accD += d * d
        accN += v * v
        if c > 0 { a0 += d * widen(load(o0, j)) }
        if c > 1 { a1 += d * widen(load(o1, j)) }
        if c > 2 { a2 += d * widen(load(o2, j)) }
        if c > 3 { a3 += d * widen(load(o3, j)) }
        if c > 4 { a4 += d * widen(load(o4, j)) }
        j += 4
    }
    var sd = accD.sum(), sn = accN.sum()
    var s0 = a0.sum(), s1 = a1.sum(), s2 = a2.sum(), s3 = a3.sum(), s4 = a4.sum()
    while j < n {
        let gj = f[j] - x[j]
        if storeG { g[j] = gj }
        let d = Double(gj), v = Double(f[j])
        sd += d * d
        sn += v * v
        if c > 0 { s0 += d * Double(o0[j]) }
        if c > 1 { s1 += d * Double(o1[j]) }
        if c > 2 { s2 += d * Double(o2[j]) }
        if c > 3 { s3 += d * Double(o3[j]) }
        if c > 4 { s4 += d * Double(o4[j]) }
        j += 1
    }
    if c > 0 { dots[0] = s0 }
    if c > 1 { dots[1] = s1 }
    if c > 2 { dots[2] = s2 }
    if c > 3 { dots[3] = s3 }
    if c > 4 { dots[4] = s4 }
    return (sd, sn)
}
