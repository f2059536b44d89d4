import Foundation
import TensorCore
import Testing
import _TestSupport

@testable import Equilibrium

// Maps with known fixed points for the solver tests, all acting on each sample independently.
// B = batch size, D = elements per sample.

/// Applies `g` to every element (a per-sample map whose fixed points are known elementwise).
func elementwise(_ z: Tensor, _ g: (Float) -> Float) -> Tensor {
    Tensor(shape: z.shape, scalars: z.scalars.map(g))
}

/// z ↦ cos z, elementwise; z* ≈ 0.7390851332151607, |f'(z*)| = sin z* ≈ 0.674.
func cosMap(_ z: Tensor) -> Tensor { elementwise(z) { Foundation.cos($0) } }
let cosFixedPoint: Float = 0.7390851332151607

/// z ↦ z − (z² − 2)/4, elementwise; z* = √2, f'(z*) = 1 − √2/2 ≈ 0.293.
func sqrtTwoMap(_ z: Tensor) -> Tensor { elementwise(z) { $0 - ($0 * $0 - 2) / 4 } }

/// A contractive affine map z_i ↦ A z_i + b_i with A = Q diag(λ) Qᵀ, λ spread over [−ρ, ρ] (so ‖A‖₂ = ρ < 1),
/// and a different offset b_i for each sample. The fixed point solves (I − A) z = b directly.
struct LinearMap {
    let dim: Int
    let a: [Float]  // D×D row-major
    let b: [[Float]]  // per sample

    init(dim: Int, batch: Int, rho: Double, seed: UInt64) {
        var rng = TestRandom(seed: seed)
        self.dim = dim
        // Orthonormal Q by Gram–Schmidt on a random matrix (columns).
        var q = [[Double]]()
        while q.count < dim {
            var v = (0..<dim).map { _ in Double(rng.uniform()) }
            for u in q {
                let p = zip(u, v).reduce(0) { $0 + $1.0 * $1.1 }
                for k in 0..<dim { v[k] -= p * u[k] }
            }
            let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if n > 1e-3 { q.append(v.map { $0 / n }) }
        }
        let lambdas = (0..<dim).map { k in rho * (dim == 1 ? 1 : -1 + 2 * Double(k) / Double(dim - 1)) }
        var a = [Float](repeating: 0, count: dim * dim)
        for r in 0..<dim {
            for c in 0..<dim {
                var s = 0.0
                for k in 0..<dim { s += q[k][r] * lambdas[k] * q[k][c] }
                a[r * dim + c] = Float(s)
            }
        }
        self.a = a
        self.b = (0..<batch).map { _ in (0..<dim).map { _ in rng.uniform(-2, 2) } }
    }

    /// f applied to a batch whose rows are samples `indices` of this map (so a sub-batch can be solved alone).
    func apply(_ z: Tensor, samples indices: [Int]) -> Tensor {
        precondition(z.shape == [indices.count, dim])
        var out = [Float](repeating: 0, count: z.count)
        for (row, i) in indices.enumerated() {
            for r in 0..<dim {
                var s: Float = b[i][r]
                for c in 0..<dim { s += a[r * dim + c] * z.scalars[row * dim + c] }
                out[row * dim + r] = s
            }
        }
        return Tensor(shape: z.shape, scalars: out)
    }

    /// The exact fixed point of sample i, by Gaussian elimination on (I − A) z = b_i in Double.
    func fixedPoint(sample i: Int) -> [Double] {
        let n = dim
        var m = [Double](repeating: 0, count: n * n)
        var y = b[i].map(Double.init)
        for r in 0..<n { for c in 0..<n { m[r * n + c] = (r == c ? 1 : 0) - Double(a[r * n + c]) } }
        for col in 0..<n {
            let p = (col..<n).max { Swift.abs(m[$0 * n + col]) < Swift.abs(m[$1 * n + col]) }!
            if p != col {
                for c in 0..<n { m.swapAt(col * n + c, p * n + c) }
                y.swapAt(col, p)
            }
            for r in (col + 1)..<n {
                let f = m[r * n + col] / m[col * n + col]
                for c in col..<n { m[r * n + c] -= f * m[col * n + c] }
                y[r] -= f * y[col]
            }
        }
        var z = [Double](repeating: 0, count: n)
        for r in stride(from: n - 1, through: 0, by: -1) {
            var s = y[r]
            for c in (r + 1)..<n { s -= m[r * n + c] * z[c] }
            z[r] = s / m[r * n + r]
        }
        return z
    }
}

/// Runs the solver with a counting wrapper around f; returns the result, stats and the number of f calls.
func countingSolve(
    _ f: (Tensor) -> Tensor, _ z0: Tensor,
    _ config: SolverConfig
) -> (z: Tensor, stats: SolverStats, calls: Int) {
    var calls = 0
    let (z, stats) = solveFixedPoint(
        {
            calls += 1; return f($0)
        }, initial: z0, config: config)
    return (z, stats, calls)
}

/// Largest |z − target| over all elements.
func maxDeviation(_ z: Tensor, from target: Float) -> Float {
    z.scalars.reduce(0) { max($0, Swift.abs($1 - target)) }
}

/// Checks on the fixtures themselves, so a broken fixture cannot make a solver test pass.
@Suite struct SolverMapsTests {
    @Test func linearMapFixedPointSolvesTheMap() {
        let map = LinearMap(dim: 8, batch: 2, rho: 0.9, seed: 7)
        for i in 0..<2 {
            let zStar = map.fixedPoint(sample: i)
            let fz = map.apply(Tensor(shape: [1, 8], scalars: zStar.map(Float.init)), samples: [i])
            for k in 0..<8 { #expect(Swift.abs(Double(fz.scalars[k]) - zStar[k]) < 1e-5) }
        }
    }

    @Test func linearMapIsAContractionOfNormRho() {
        // ‖A v‖ ≤ ρ‖v‖ for random v, and A has an eigenvalue ±ρ (so naive iteration converges at rate ρ).
        let map = LinearMap(dim: 8, batch: 1, rho: 0.9, seed: 7)
        var rng = TestRandom(seed: 3)
        for _ in 0..<20 {
            let v = (0..<8).map { _ in Double(rng.uniform()) }
            var av = [Double](repeating: 0, count: 8)
            for r in 0..<8 { for c in 0..<8 { av[r] += Double(map.a[r * 8 + c]) * v[c] } }
            let nv = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let nav = av.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(nav <= 0.9 * nv + 1e-5)
        }
        var trace = 0.0, frob = 0.0
        for r in 0..<8 { trace += Double(map.a[r * 8 + r]) }
        for x in map.a { frob += Double(x) * Double(x) }
        #expect(Swift.abs(trace) < 1e-5)  // eigenvalues symmetric around 0
        #expect(frob > 8 * 0.3 * 0.3)  // not degenerate
    }

    @Test func elementwiseFixtureFixedPoints() {
        let z = Tensor(shape: [1, 2], scalars: [cosFixedPoint, 2.0.squareRoot().asFloat])
        #expect(Swift.abs(cosMap(z).scalars[0] - cosFixedPoint) < 1e-6)
        #expect(Swift.abs(sqrtTwoMap(z).scalars[1] - Float(2.0.squareRoot())) < 1e-6)
    }
}

extension Double { var asFloat: Float { Float(self) } }
