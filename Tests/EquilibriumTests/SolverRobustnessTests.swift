import Foundation
import TensorCore
import Testing
import _TestSupport

@testable import Equilibrium

/// Per-sample independence, divergence and NaN handling, stalls, configuration errors.
@Suite struct SolverRobustnessTests {
    /// Bit patterns, so that NaN results compare equal to identical NaN results.
    func bits(_ v: [Float]) -> [UInt32] { v.map(\.bitPattern) }

    /// Solves a batch, then every sample alone, and requires bitwise-equal results and per-sample statistics.
    func expectBatchIndependence(
        kind: SolverKind, returnLowest: Bool,
        z0: Tensor, f: (Tensor, [Int]) -> Tensor, tolerance: Float
    ) {
        let batch = z0.shape[0]
        let config = SolverConfig(kind: kind, maxSteps: 25, tolerance: tolerance, returnLowestResidual: returnLowest)
        let all = countingSolve({ f($0, Array(0..<batch)) }, z0, config)
        for i in 0..<batch {
            let alone = countingSolve({ f($0, [i]) }, z0.slice(rows: i..<(i + 1)), config)
            #expect(bits(alone.z.scalars) == bits(all.z.slice(rows: i..<(i + 1)).scalars), "\(kind) sample \(i)")
            #expect(alone.stats.sampleEvaluations[0] == all.stats.sampleEvaluations[i])
            #expect(alone.stats.sampleSteps[0] == all.stats.sampleSteps[i])
            #expect(alone.calls == alone.stats.sampleEvaluations[0])
            #expect(bits([alone.stats.finalAbsoluteResidual[0]]) == bits([all.stats.finalAbsoluteResidual[i]]))
            #expect(bits([alone.stats.finalRelativeResidual[0]]) == bits([all.stats.finalRelativeResidual[i]]))
            #expect(alone.stats.lowestRelativeResidual[0] == all.stats.lowestRelativeResidual[i])
            #expect(alone.stats.converged[0] == all.stats.converged[i])
            #expect(alone.stats.diverged[0] == all.stats.diverged[i])
        }
    }

    @Test(arguments: SolverKind.allCases, [false, true])
    func samplesDoNotDependOnTheirBatchMates(kind: SolverKind, returnLowest: Bool) {
        // Samples converge at different steps (one starts at the fixed point, one far away), and one is NaN.
        let dim = 6
        var rng = TestRandom(seed: 8)
        var scalars = [Float]()
        scalars += [Float](repeating: cosFixedPoint, count: dim)
        scalars += (0..<dim).map { _ in rng.uniform(-3, 3) }
        scalars += (0..<dim).map { _ in rng.uniform(0, 1) }
        scalars += [Float](repeating: .nan, count: dim)
        let z0 = Tensor(shape: [4, dim], scalars: scalars)
        expectBatchIndependence(
            kind: kind, returnLowest: returnLowest, z0: z0,
            f: { z, _ in cosMap(z) }, tolerance: 1e-4)

        let map = LinearMap(dim: dim, batch: 3, rho: 0.9, seed: 17)
        let z1 = rng.tensor([3, dim], -1, 1)
        expectBatchIndependence(
            kind: kind, returnLowest: returnLowest, z0: z1,
            f: { z, rows in map.apply(z, samples: rows) }, tolerance: 1e-3)
    }

    @Test func naiveFlagsTheRepellingAffineMapAsDiverged() {
        // z ↦ 2z + 1 from 0: residual 2^k. Flagged once it passes the threshold, then frozen; no trap.
        let f = { (z: Tensor) in elementwise(z) { 2 * $0 + 1 } }
        let config = SolverConfig(kind: .naive, maxSteps: 50, tolerance: 1e-3, divergenceThreshold: 1e3)
        let (z, stats, calls) = countingSolve(f, Tensor(shape: [2, 1], repeating: 0), config)
        #expect(stats.diverged == [true, true])
        #expect(stats.converged == [false, false])
        #expect(stats.stalled == [false, false])
        #expect(calls == 11)  // evaluation k measures 2^(k−1): 512 ≤ 1e3 < 1024
        #expect(z.scalars == [2047, 2047])  // f(2^10 − 1), the last output
    }

    @Test(arguments: [SolverKind.anderson, .broyden])
    func secantSolversFindTheRepellingFixedPointOfAnAffineMap(kind: SolverKind) {
        // Where naive iteration diverges, Anderson and Broyden solve g(z) = z + 1 = 0 (an affine g is solved
        // exactly by a secant step): converging to −1 here is correct, not a missed divergence.
        let f = { (z: Tensor) in elementwise(z) { 2 * $0 + 1 } }
        let config = SolverConfig(kind: kind, maxSteps: 20, tolerance: 1e-4)
        let (z, stats, _) = countingSolve(f, Tensor(shape: [2, 3], repeating: 0), config)
        #expect(stats.allConverged && !stats.anyDiverged)
        #expect(maxDeviation(z, from: -1) < 1e-4)
    }

    @Test(arguments: SolverKind.allCases)
    func blowUpIsFlaggedAsDivergedForEverySolver(kind: SolverKind) {
        // z ↦ z + 1 + z² has no real fixed point (g = 1 + z² ≥ 1); iterates run off. Every solver must end with
        // the sample flagged diverged or stalled, never converged, and never trap.
        let f = { (z: Tensor) in elementwise(z) { $0 + 1 + $0 * $0 } }
        let config = SolverConfig(kind: kind, maxSteps: 40, tolerance: 1e-3, divergenceThreshold: 1e4)
        let (_, stats, _) = countingSolve(f, Tensor(shape: [1, 2], repeating: 0), config)
        #expect(stats.converged == [false])
        #expect(stats.diverged[0] || stats.stalled[0])
        #expect(stats.lowestAbsoluteResidual[0] >= 1)
    }

    @Test(arguments: SolverKind.allCases)
    func nanFromTheMapIsFlaggedAsDiverged(kind: SolverKind) {
        // z ↦ √(1 − 2z) from 0: f(0) = 1, f(1) = NaN. Every solver evaluates f at 1 by its second evaluation.
        let f = { (z: Tensor) in elementwise(z) { (1 - 2 * $0).squareRoot() } }
        let config = SolverConfig(kind: kind, maxSteps: 10, tolerance: 1e-3)
        let (_, stats, calls) = countingSolve(f, Tensor(shape: [2, 3], repeating: 0), config)
        #expect(stats.diverged == [true, true])
        #expect(stats.converged == [false, false])
        #expect(calls == 2)  // frozen at the first non-finite residual
        #expect(stats.finalAbsoluteResidual.allSatisfy { $0.isNaN })
        #expect(stats.lowestAbsoluteResidual.allSatisfy { $0.isFinite })
    }

    @Test(arguments: SolverKind.allCases)
    func nanInTheStartIsFlaggedAndDoesNotSpread(kind: SolverKind) {
        var scalars = [Float](repeating: 0, count: 8)
        scalars[5] = .nan  // sample 1 of 2 (D = 4)
        let config = SolverConfig(kind: kind, maxSteps: 60, tolerance: 1e-5)
        let (z, stats, _) = countingSolve(cosMap, Tensor(shape: [2, 4], scalars: scalars), config)
        #expect(stats.diverged == [false, true])
        #expect(stats.converged == [true, false])
        #expect(stats.sampleEvaluations[1] == 1)
        #expect(maxDeviation(z.slice(rows: 0..<1), from: cosFixedPoint) < 1e-5)
    }

    @Test(arguments: SolverKind.allCases)
    func aMapWithoutFixedPointStalls(kind: SolverKind) {
        // z ↦ z + 1: the residual is 1 forever; neither converged nor diverged, so stalled.
        let f = { (z: Tensor) in elementwise(z) { $0 + 1 } }
        let config = SolverConfig(kind: kind, maxSteps: 25, tolerance: 1e-3, stallWindow: 10)
        let (_, stats, calls) = countingSolve(f, Tensor(shape: [1, 3], repeating: 0), config)
        #expect(stats.stalled == [true])
        #expect(stats.converged == [false] && stats.diverged == [false])
        #expect(calls == stats.evaluations)
        #expect(Swift.abs(stats.finalAbsoluteResidual[0] - Float(3.0.squareRoot())) < 1e-3)
        // A converging run is not stalled.
        let ok = countingSolve(
            cosMap, Tensor(shape: [1, 3], repeating: 0),
            SolverConfig(kind: kind, maxSteps: 3, tolerance: 0))
        #expect(ok.stats.stalled == [false])
    }

    @Test func invalidConfigurationIsReportedWithItsField() {
        let bad: [(SolverConfig, String)] = [
            (SolverConfig(kind: .naive, maxSteps: 0), "maxSteps"),
            (SolverConfig(kind: .naive, maxSteps: 3, tolerance: -1), "tolerance"),
            (SolverConfig(kind: .naive, maxSteps: 3, tolerance: .nan), "tolerance"),
            (SolverConfig(kind: .anderson, maxSteps: 3, andersonMemory: 0), "andersonMemory"),
            (SolverConfig(kind: .anderson, maxSteps: 3, andersonLambda: -1), "andersonLambda"),
            (SolverConfig(kind: .anderson, maxSteps: 3, andersonBeta: 0), "andersonBeta"),
            (SolverConfig(kind: .naive, maxSteps: 3, divergenceThreshold: 0), "divergenceThreshold"),
            (SolverConfig(kind: .naive, maxSteps: 3, stallWindow: 0), "stallWindow"),
        ]
        for (config, field) in bad {
            #expect(throws: EquilibriumError.self) { try config.validate() }
            do {
                try config.validate()
            } catch {
                guard case let .invalidConfiguration(f, _, _) = error else { Issue.record("wrong case"); continue }
                #expect(f == field)
                #expect(error.description.contains(field))
            }
        }
        #expect(throws: Never.self) { try SolverConfig(kind: .broyden, maxSteps: 1, tolerance: 0).validate() }
    }

    @Test func solverKindParsesNames() throws {
        #expect(try SolverKind(parsing: "Anderson") == .anderson)
        #expect(try SolverKind(parsing: "naive") == .naive)
        #expect(
            throws: EquilibriumError.unknownName(
                field: "solver", value: "newton",
                allowed: ["naive", "anderson", "broyden"])
        ) {
            try SolverKind(parsing: "newton")
        }
    }
}
