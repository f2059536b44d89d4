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
