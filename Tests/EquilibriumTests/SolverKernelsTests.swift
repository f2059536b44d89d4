import TensorCore
import Testing
import _TestSupport

@testable import Equilibrium

/// The fused solver kernels give exactly (bit for bit) what the separate passes they replace give.
@Suite struct SolverKernelsTests {
    /// `fusedStoreSums` = G = F − X, `residualSums(x, f)` and `dotDouble(g, otherₖ)`, for lengths with and without
    /// a tail (n mod 4 ≠ 0) and for 0…7 other rows (more than the 5 dots that share the pass).
    @Test(arguments: [1, 3, 4, 7, 16, 37, 6272])
    func fusedStoreSumsEqualsTheSeparatePasses(n: Int) {
        var rng = TestRandom(seed: UInt64(n))
        let x = (0..<n).map { _ in rng.uniform(-2, 2) }, f = (0..<n).map { _ in rng.uniform(-2, 2) }
        let rows = (0..<7).map { _ in (0..<n).map { _ in rng.uniform(-1, 1) } }
        for count in 0...7 {
            let (g, sums, dots) = fused(x, f, rows[0..<count], gInitial: 0, storeG: true)
            #expect(g == zip(f, x).map { $0 - $1 })
            let expected = residualSums(x, f, n)
            #expect(sums.diff.bitPattern == expected.diff.bitPattern)
            #expect(sums.norm.bitPattern == expected.norm.bitPattern)
            for k in 0..<count { #expect(dots[k].bitPattern == dotDouble(g, rows[k], n).bitPattern) }

            // Without storing g (a g no later pass reads): the same sums; g is written only when dots beyond
            // the pass need it.
            let (unused, sums2, dots2) = fused(x, f, rows[0..<count], gInitial: 7, storeG: false)
            #expect(sums2.diff.bitPattern == sums.diff.bitPattern && sums2.norm.bitPattern == sums.norm.bitPattern)
            #expect(dots2.map(\.bitPattern) == dots.map(\.bitPattern))
            #expect(unused == (count > 5 ? g : [Float](repeating: 7, count: n)))
        }
    }

    /// One `fusedStoreSums` call on arrays: g (initially `gInitial` everywhere), the sums and the dots.
    private func fused(
        _ x: [Float], _ f: [Float], _ others: ArraySlice<[Float]>, gInitial: Float, storeG: Bool
    ) -> (g: [Float], sums: (diff: Double, norm: Double), dots: [Double]) {
        let n = x.count
        var g = [Float](repeating: gInitial, count: n)
        var dots = [Double](repeating: 0, count: others.count)
        let sums = x.withUnsafeBufferPointer { px in
            f.withUnsafeBufferPointer { pf in
                g.withUnsafeMutableBufferPointer { pg in
                    dots.withUnsafeMutableBufferPointer { pd in
                        withPointers(others) { rows in
                            fusedStoreSums(
                                x: px.baseAddress!, f: pf.baseAddress!, g: pg.baseAddress!, storeG: storeG,
                                others: rows, dots: pd.baseAddress!, dim: n)
                        }
                    }
                }
            }
        }
        return (g, sums, dots)
    }

    /// `History.mix` (four 4-element groups per pass) = the per-element sum Σ βaₜFₜ, then Σ (1 − β)aₜXₜ, in Double
    /// from zero, rounded to Float — the arithmetic of the 4-lane loop it replaced (and its scalar tail).
    @Test(arguments: [1.0, 0.5])
    func mixEqualsThePerElementSums(beta: Double) {
        let batch = 3, dim = 37
        var rng = TestRandom(seed: 5)
        for n in 1...4 {
            let fs = (0..<n).map { _ in rng.tensor([batch, dim], -3, 3) }
            let xs = (0..<n).map { _ in rng.tensor([batch, dim], -3, 3) }
            var history = AndersonAcceleration.History(batch: batch, dim: dim, memory: n, keepX: beta != 1)
            for t in 0..<n {
                history.fs[t] = fs[t]
                if beta != 1 { history.xs[t] = xs[t] }
            }
            let a = (0..<n).map { _ in Double(rng.uniform(-1, 2)) }
            let out = history.withFRows(n) { rows in
                Tensor(shape: [batch, dim]) { out in
                    for i in 0..<batch { history.mix(sample: i, weights: a, n: n, beta: beta, fRows: rows, into: out) }
                }
            }
            for i in 0..<batch {
                for j in 0..<dim {
                    let k = i * dim + j
                    var acc = 0.0
                    if j < dim / 4 * 4 {
                        for t in 0..<n { acc += beta * a[t] * Double(fs[t].scalars[k]) }
                        if beta != 1 { for t in 0..<n { acc += (1 - beta) * a[t] * Double(xs[t].scalars[k]) } }
                    } else {
                        for t in 0..<n {
                            acc += beta * a[t] * Double(fs[t].scalars[k])
                            if beta != 1 { acc += (1 - beta) * a[t] * Double(xs[t].scalars[k]) }
                        }
                    }
                    #expect(out.scalars[k].bitPattern == Float(acc).bitPattern, "n \(n), sample \(i), element \(j)")
                }
            }
        }
    }

    /// Calls `body` with pointers to the rows (each array pinned for the call).
    private func withPointers<R>(
        _ rows: ArraySlice<[Float]>, _ body: (UnsafeBufferPointer<UnsafePointer<Float>>) -> R
    ) -> R {
        var pointers: [UnsafePointer<Float>] = []
        func nest(_ k: Int) -> R {
            if k == rows.endIndex { return pointers.withUnsafeBufferPointer(body) }
            return rows[k].withUnsafeBufferPointer { p in
                pointers.append(p.baseAddress!)
                return nest(k + 1)
            }
        }
        return nest(rows.startIndex)
    }
}
