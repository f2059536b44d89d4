import Foundation
import TensorCore
import Testing
import _TestSupport

@testable import Equilibrium

/// Evaluation counts, step counting, returned iterates and traces follow the documented conventions exactly.
@Suite struct SolverAccountingTests {
    @Test(arguments: 1...5)
    func evaluationCountsWithoutEarlyStopping(steps: Int) {
        let z0 = Tensor(shape: [2, 3], repeating: 0)
        let expected: [SolverKind: Int] = [.naive: steps, .anderson: steps + 2, .broyden: steps + 1]
        for kind in SolverKind.allCases {
            let config = SolverConfig(kind: kind, maxSteps: steps, tolerance: 0, recordTrace: true)
            let (_, stats, calls) = countingSolve(cosMap, z0, config)
            #expect(calls == expected[kind]!, "\(kind) T=\(steps)")
            #expect(stats.evaluations == calls)
            #expect(stats.steps == steps)
            #expect(stats.sampleEvaluations == [calls, calls])
            #expect(stats.sampleSteps == [steps, steps])
            let trace = try! #require(stats.trace)
            #expect(trace.evaluations == Array(1...calls))
            let expectedSteps: [Int]
            switch kind {
            case .naive: expectedSteps = Array(1...steps)
            case .anderson: expectedSteps = [0, 0] + Array(1...steps)
            case .broyden: expectedSteps = [0] + Array(1...steps)
            }
            #expect(trace.steps == expectedSteps)
            #expect(trace.absoluteResidual.count == calls && trace.relativeResidual.count == calls)
            #expect(trace.absoluteResidual.last! == stats.finalAbsoluteResidual)
            #expect(trace.relativeResidual.last! == stats.finalRelativeResidual)
        }
    }

    @Test func naiveReturnsTheLastOutputOfF() {
        var rng = TestRandom(seed: 1)
        let z0 = rng.tensor([2, 5])
        for steps in 1...4 {
            let (z, _, _) = countingSolve(cosMap, z0, SolverConfig(kind: .naive, maxSteps: steps, tolerance: 0))
            var expected = z0
            for _ in 0..<steps { expected = cosMap(expected) }
            #expect(z == expected)  // Naive-T returns f^T(z0); Naive-1 returns f(z0)
        }
    }

    @Test func andersonOneStepIsTheTwoTermExtrapolation() {
        // T = 1: X₂ = (1 − t)F₀ + tF₁ minimising ‖(1 − t)G₀ + tG₁‖² + λ((1 − t)² + t²), i.e.
        // t = (G₀·(G₀ − G₁) + λ) / (‖G₀ − G₁‖² + 2λ); the solver returns f(X₂) after 3 evaluations.
        var rng = TestRandom(seed: 2)
        let z0 = rng.tensor([3, 6], -1, 2)
        let lambda = 1e-4
        let (z, stats, calls) = countingSolve(
            sqrtTwoMap, z0,
            SolverConfig(
                kind: .anderson, maxSteps: 1, tolerance: 0,
                andersonLambda: lambda))
        #expect(calls == 3 && stats.steps == 1)
        let f0 = sqrtTwoMap(z0), f1 = sqrtTwoMap(f0)
        for i in 0..<3 {
            let x0 = z0.slice(rows: i..<(i + 1)).scalars.map(Double.init)
            let a = f0.slice(rows: i..<(i + 1)).scalars.map(Double.init)
            let b = f1.slice(rows: i..<(i + 1)).scalars.map(Double.init)
            let g0 = zip(a, x0).map { $0 - $1 }, g1 = zip(b, a).map { $0 - $1 }
            let d = zip(g0, g1).map { $0 - $1 }
            let t = (zip(g0, d).reduce(0) { $0 + $1.0 * $1.1 } + lambda) / (d.reduce(0) { $0 + $1 * $1 } + 2 * lambda)
            let x2 = zip(a, b).map { Float((1 - t) * $0 + t * $1) }
            let expected = sqrtTwoMap(Tensor(shape: [1, 6], scalars: x2))
            let got = z.slice(rows: i..<(i + 1))
            #expect(relativeMaxError(got, expected) < 1e-5)
        }
        // One mixing step from a distant start already beats the naive step it replaces.
        let naive2 = countingSolve(sqrtTwoMap, z0, SolverConfig(kind: .naive, maxSteps: 3, tolerance: 0))
        #expect(maxDeviation(z, from: Float(2.0.squareRoot())) < maxDeviation(naive2.z, from: Float(2.0.squareRoot())))
    }

    @Test func broydenFirstStepIsTheFixedPointStep() {
        // B₀ = −I, so z₁ = z0 + g(z0) = f(z0) and Broyden-1 returns f(z₁) = f(f(z0)) after 2 evaluations.
        var rng = TestRandom(seed: 4)
        let z0 = rng.tensor([2, 4])
        let (z, _, calls) = countingSolve(cosMap, z0, SolverConfig(kind: .broyden, maxSteps: 1, tolerance: 0))
        #expect(calls == 2)
        let z1 = elementwise(z0) { $0 + (Foundation.cos($0) - $0) }
        #expect(z == cosMap(z1))
    }

    @Test func andersonMatchesADirectPerSampleImplementation() {
        // An independent, unbatched Anderson (Double throughout, explicit bordered system, no ring buffer)
        // on one sample of the linear map: the batched solver must agree to Float rounding.
        let dim = 6
        let map = LinearMap(dim: dim, batch: 1, rho: 0.95, seed: 21)
        let f = { (z: [Double]) -> [Double] in
            map.apply(Tensor(shape: [1, dim], scalars: z.map(Float.init)), samples: [0]).scalars.map(Double.init)
        }
        let m = 3, steps = 7, lambda = 1e-4
        var xs: [[Double]] = [[Double](repeating: 0, count: dim)]
        var fs: [[Double]] = [f(xs[0])]
        xs.append(fs[0]); fs.append(f(xs[1]))
        for _ in 0..<steps {
            let n = min(xs.count, m)
            let xr = Array(xs.suffix(n)), fr = Array(fs.suffix(n))
            let g = zip(fr, xr).map { zip($0, $1).map { $0 - $1 } }
            // Bordered system via elimination of μ: a ∝ (GGᵀ + λI)⁻¹ 1.
            var h = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
            for r in 0..<n { for c in 0..<n { h[r][c] = zip(g[r], g[c]).reduce(0) { $0 + $1.0 * $1.1 } + (r == c ? lambda : 0) } }
            var y = [Double](repeating: 1, count: n)
            for col in 0..<n {
                for r in (col + 1)..<n {
                    let q = h[r][col] / h[col][col]
                    for c in col..<n { h[r][c] -= q * h[col][c] }
                    y[r] -= q * y[col]
                }
            }
            var w = [Double](repeating: 0, count: n)
            for r in stride(from: n - 1, through: 0, by: -1) {
                var s = y[r]
                for c in (r + 1)..<n { s -= h[r][c] * w[c] }
                w[r] = s / h[r][r]
            }
            let total = w.reduce(0, +)
            let a = w.map { $0 / total }
            var xNew = [Double](repeating: 0, count: dim)
            for t in 0..<n { for k in 0..<dim { xNew[k] += a[t] * fr[t][k] } }
            xs.append(xNew); fs.append(f(xNew))
        }
        let (z, _, calls) = countingSolve(
            { map.apply($0, samples: [0]) }, Tensor(shape: [1, dim], repeating: 0),
            SolverConfig(
                kind: .anderson, maxSteps: steps, tolerance: 0,
                andersonMemory: m, andersonLambda: lambda))
        #expect(calls == steps + 2)
        let expected = Tensor(shape: [1, dim], scalars: fs.last!.map(Float.init))
        #expect(relativeMaxError(z, expected) < 1e-4)
    }

    @Test func dampedAndersonConverges() {
        let batch = 2, dim = 8
        let map = LinearMap(dim: dim, batch: batch, rho: 0.9, seed: 13)
        let config = SolverConfig(
            kind: .anderson, maxSteps: 200, tolerance: 1e-4, andersonBeta: 0.5,
            andersonScaleLambda: true)
        let (z, stats, _) = countingSolve(
            { map.apply($0, samples: [0, 1]) }, Tensor(shape: [batch, dim], repeating: 0),
            config)
        #expect(stats.allConverged)
        for i in 0..<batch {
            let exact = map.fixedPoint(sample: i)
            for k in 0..<dim { #expect(Swift.abs(Double(z.scalars[i * dim + k]) - exact[k]) < 1e-3) }
        }
    }

    @Test func lowestResidualVariantReturnsTheBestIterate() {
        // z ↦ 2z + 1 from near its repelling fixed point −1: the naive residual grows, so the lowest one is the first.
        let f = { (z: Tensor) in elementwise(z) { 2 * $0 + 1 } }
        let z0 = Tensor(shape: [2, 3], repeating: -1.001)
        let last = countingSolve(f, z0, SolverConfig(kind: .naive, maxSteps: 5, tolerance: 0))
        let best = countingSolve(f, z0, SolverConfig(kind: .naive, maxSteps: 5, tolerance: 0, returnLowestResidual: true))
        #expect(best.z == f(z0))
        #expect(best.stats.lowestResidualEvaluation == [1, 1])
        var expectedLast = z0
        for _ in 0..<5 { expectedLast = f(expectedLast) }
        #expect(last.z == expectedLast)
        #expect(best.stats.lowestAbsoluteResidual[0] < best.stats.finalAbsoluteResidual[0])
    }
}
