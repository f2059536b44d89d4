import Foundation
import TensorCore
import Testing
import _TestSupport

@testable import Equilibrium

/// Every solver finds known fixed points; Anderson beats naive; warm starts beat cold starts; stop modes.
@Suite struct SolverConvergenceTests {
    @Test(arguments: SolverKind.allCases)
    func cosineFixedPoint(kind: SolverKind) {
        let z0 = Tensor(shape: [3, 5], repeating: 0)
        let config = SolverConfig(kind: kind, maxSteps: 100, tolerance: 1e-5)
        let (z, stats, calls) = countingSolve(cosMap, z0, config)
        #expect(stats.allConverged)
        #expect(!stats.anyDiverged)
        #expect(maxDeviation(z, from: cosFixedPoint) < 1e-5)
        #expect(stats.finalAbsoluteResidual.allSatisfy { $0 < 1e-5 })
        #expect(calls == stats.evaluations)
        #expect(stats.evaluations < 100)
    }

    @Test(arguments: SolverKind.allCases)
    func squareRootOfTwo(kind: SolverKind) {
        // Warm starts spread over [0.5, 2.5] per sample; every sample must reach √2.
        let z0 = Tensor(shape: [4, 3], scalars: (0..<12).map { 0.5 + 2 * Float($0) / 11 })
        let config = SolverConfig(kind: kind, maxSteps: 60, tolerance: 1e-5)
        let (z, stats, _) = countingSolve(sqrtTwoMap, z0, config)
        #expect(stats.allConverged)
        #expect(maxDeviation(z, from: Float(2.0.squareRoot())) < 1e-5)
    }

    @Test(arguments: SolverKind.allCases)
    func contractiveLinearMap(kind: SolverKind) {
        let batch = 3, dim = 8
        let map = LinearMap(dim: dim, batch: batch, rho: 0.9, seed: 11)
        let z0 = Tensor(shape: [batch, dim], repeating: 0)
        let config = SolverConfig(kind: kind, maxSteps: 300, tolerance: 1e-4)
        let (z, stats, _) = countingSolve({ map.apply($0, samples: Array(0..<batch)) }, z0, config)
        #expect(stats.allConverged)
        for i in 0..<batch {
            let exact = map.fixedPoint(sample: i)
            // ‖z − z*‖ ≤ ‖f(x) − x‖·ρ/(1 − ρ) for the returned z = f(x); with ρ = 0.9 that is ≤ 9e-4.
            for k in 0..<dim { #expect(Swift.abs(Double(z.scalars[i * dim + k]) - exact[k]) < 1e-3) }
        }
    }

    @Test func andersonNeedsFewerEvaluationsThanNaiveOnTheLinearMap() {
        let batch = 2, dim = 8
        let map = LinearMap(dim: dim, batch: batch, rho: 0.9, seed: 5)
        let f = { (z: Tensor) in map.apply(z, samples: Array(0..<batch)) }
        let z0 = Tensor(shape: [batch, dim], repeating: 0)
        func calls(_ config: SolverConfig) -> Int {
            let r = countingSolve(f, z0, config)
            #expect(r.stats.allConverged, "\(config)")
            return r.calls
        }
        // Published defaults (λ = 1e-4 unscaled), tolerance 1e-2: naive contracts at rate 0.9.
        let naive2 = calls(SolverConfig(kind: .naive, maxSteps: 400, tolerance: 1e-2))
        #expect(naive2 > 40)
        #expect(calls(SolverConfig(kind: .anderson, maxSteps: 400, tolerance: 1e-2)) * 3 < naive2)
        #expect(calls(SolverConfig(kind: .broyden, maxSteps: 400, tolerance: 1e-2)) * 3 < naive2)
        // Tighter tolerance 1e-4: the scale-invariant λ keeps Anderson far ahead of naive.
        let naive4 = calls(SolverConfig(kind: .naive, maxSteps: 400, tolerance: 1e-4))
        let scaled4 = calls(SolverConfig(kind: .anderson, maxSteps: 400, tolerance: 1e-4, andersonScaleLambda: true))
        #expect(scaled4 * 3 < naive4)
        #expect(calls(SolverConfig(kind: .broyden, maxSteps: 400, tolerance: 1e-4)) * 3 < naive4)
        // The published unscaled λ = 1e-4 dominates GGᵀ once ‖G‖² ≪ λ and degrades towards averaging
        // (documented on `SolverConfig.andersonScaleLambda`): slower than the scaled variant here.
        #expect(calls(SolverConfig(kind: .anderson, maxSteps: 400, tolerance: 1e-4)) > 2 * scaled4)
    }

    @Test(arguments: SolverKind.allCases)
    func warmStartNearTheFixedPointNeedsFewerEvaluations(kind: SolverKind) {
        let batch = 2, dim = 8
        let map = LinearMap(dim: dim, batch: batch, rho: 0.9, seed: 5)
        let f = { (z: Tensor) in map.apply(z, samples: Array(0..<batch)) }
        var rng = TestRandom(seed: 9)
        var near = [Float]()
        for i in 0..<batch { near += map.fixedPoint(sample: i).map { Float($0) + 0.01 * rng.uniform() } }
        let config = SolverConfig(kind: kind, maxSteps: 400, tolerance: 1e-4)
        let cold = countingSolve(f, Tensor(shape: [batch, dim], repeating: 0), config)
        let warm = countingSolve(f, Tensor(shape: [batch, dim], scalars: near), config)
        #expect(cold.stats.allConverged && warm.stats.allConverged)
        #expect(warm.calls < cold.calls)
        #expect(warm.stats.sampleEvaluations.max()! < cold.stats.sampleEvaluations.min()!)
    }

    @Test func startingAtTheFixedPointStopsAfterOneEvaluation() {
        let z0 = Tensor(shape: [2, 4], repeating: cosFixedPoint)
        for kind in SolverKind.allCases {
            let (_, stats, calls) = countingSolve(cosMap, z0, SolverConfig(kind: kind, maxSteps: 10, tolerance: 1e-5))
            #expect(stats.allConverged)
            #expect(calls == 1, "\(kind) spent \(calls) evaluations at a fixed point")
        }
    }

    @Test(arguments: SolverKind.allCases)
    func stopModesMeasureAbsoluteAndRelativeResiduals(kind: SolverKind) {
        // z ↦ z/2 + 1000: z* = 2000, so a relative tolerance is met far earlier than the same absolute one.
        let f = { (z: Tensor) in elementwise(z) { $0 / 2 + 1000 } }
        let z0 = Tensor(shape: [2, 4], repeating: 0)
        let rel = countingSolve(f, z0, SolverConfig(kind: kind, maxSteps: 80, tolerance: 1e-3, stopMode: .relative))
        let abs = countingSolve(f, z0, SolverConfig(kind: kind, maxSteps: 80, tolerance: 1e-3, stopMode: .absolute))
        #expect(rel.stats.allConverged && abs.stats.allConverged)
        #expect(rel.stats.finalRelativeResidual.allSatisfy { $0 < 1e-3 })
        #expect(abs.stats.finalAbsoluteResidual.allSatisfy { $0 < 1e-3 })
        #expect(rel.calls <= abs.calls)
        if kind == .naive {
            // Naive halves the error each step: rel stops near error 2000·1e-3, abs near 1e-3.
            #expect(rel.calls < abs.calls)
            #expect(rel.stats.finalAbsoluteResidual.allSatisfy { $0 >= 1e-3 })
        }
        // rel = abs / (‖f(x)‖ + 1e-8), and the returned z is f(x).
        for (i, r) in [rel, abs].enumerated() {
            for s in 0..<2 {
                let row = r.z.slice(rows: s..<(s + 1)).scalars
                let norm = row.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                let expected = Double(r.stats.finalAbsoluteResidual[s]) / (norm + 1e-8)
                #expect(
                    Swift.abs(Double(r.stats.finalRelativeResidual[s]) - expected) <= 1e-6 * expected + 1e-12,
                    "mode \(i) sample \(s)")
            }
        }
    }
}
