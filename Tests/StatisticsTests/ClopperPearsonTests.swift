import Foundation
import Testing

@testable import Statistics

struct ClopperPearsonFixture: Decodable {
    /// [successes, trials, alpha, scipy beta.ppf(alpha, nA, n − nA + 1) (0 / alpha^(1/n) at the edges)]
    let lower: [[Double]]
    /// [successes, trials, alpha, scipy beta.isf(alpha, nA + 1, n − nA) (1 / 1 − alpha^(1/n) at the edges)]
    let upper: [[Double]]
}

@Suite("Clopper–Pearson bounds")
struct ClopperPearsonTests {
    /// Relative tolerance 1e-12 (brief: 1e-9); 2e-10 where the Beta parameters are ≥ 1e4 apart by a
    /// factor ≥ 1000 (nA within a few of n = 1e5…1e6), for the reason given in BetaTests.tolerance.
    static func tolerance(_ a: Double, _ b: Double) -> Double { BetaTests.tolerance(a, b) }

    @Test func lowerBoundMatchesSciPy() throws {
        let table = try Fixture<ClopperPearsonFixture>.load("clopper_pearson").lower
        #expect(table.count >= 100)
        var worst = 0.0
        for row in table {
            let (k, n, alpha, expected) = (row[0], row[1], row[2], row[3])
            let value = try ClopperPearson.lowerBound(successes: k, trials: n, alpha: alpha)
            let err = relativeError(value, expected, floor: 1e-300)
            worst = max(worst, err)
            #expect(err <= Self.tolerance(k, n - k + 1), "LCB(\(k), \(n), \(alpha)) = \(value), SciPy \(expected)")
            if k == k.rounded(), n == n.rounded() {
                #expect(try ClopperPearson.lowerBound(successes: Int(k), trials: Int(n), alpha: alpha) == value)
            }
        }
        print("ClopperPearson.lowerBound worst relative error vs SciPy: \(worst)")
    }

    @Test func upperBoundMatchesSciPy() throws {
        let table = try Fixture<ClopperPearsonFixture>.load("clopper_pearson").upper
        #expect(table.count >= 30)
        for row in table {
            let (k, n, alpha, expected) = (row[0], row[1], row[2], row[3])
            let value = try ClopperPearson.upperBound(successes: k, trials: n, alpha: alpha)
            #expect(relativeError(value, expected) <= Self.tolerance(k + 1, n - k), "UCB(\(k), \(n), \(alpha)) = \(value), SciPy \(expected)")
            // Duality: UCB(k, n) = 1 − LCB(n − k, n).
            let dual = 1 - (try ClopperPearson.lowerBound(successes: n - k, trials: n, alpha: alpha))
            #expect(abs(value - dual) <= 1e-15 + Self.tolerance(k + 1, n - k) * value)
        }
    }

    /// The two quantities SRS needs in its two radius modes, computed by hand: paper mode
    /// LCB(r·N_A, N) and reference-code mode LCB(r·N_A, r·N), on the example of docs/certificate.md §3.
    @Test func nonIntegerCountsAndEdges() throws {
        let r = 0.84, nA = 9000.0, n = 10000.0
        let reference = try ClopperPearson.lowerBound(successes: r * nA, trials: r * n, alpha: 0.0005)
        let paper = try ClopperPearson.lowerBound(successes: r * nA, trials: n, alpha: 0.0005)
        let uncorrected = try ClopperPearson.lowerBound(successes: nA, trials: n, alpha: 0.0005)
        // docs/certificate.md §3: the reference-code form barely penalises disagreement (here 0.8888 against 0.8898
        // uncorrected); the paper's form takes the 16 % disagreement off in full (≈ 0.75).
        #expect(reference < uncorrected && uncorrected - reference < 0.002)
        #expect(paper < 0.76 && paper > 0.74)
        // Edges: nA = 0 (including n = 0, "no evidence") gives 0; nA = n gives α^(1/n), also non-integer.
        #expect(try ClopperPearson.lowerBound(successes: 0, trials: 0, alpha: 0.001) == 0)
        #expect(try ClopperPearson.lowerBound(successes: 0, trials: 400, alpha: 0.001) == 0)
        #expect(try ClopperPearson.lowerBound(successes: 400, trials: 400, alpha: 0.001) == pow(0.001, 1.0 / 400))
        #expect(try ClopperPearson.lowerBound(successes: 7.25, trials: 7.25, alpha: 0.01) == pow(0.01, 1 / 7.25))
        #expect(try ClopperPearson.upperBound(successes: 3, trials: 3, alpha: 0.01) == 1)
    }

    @Test func monotonicity() throws {
        // Increasing in successes, in α, and (at a fixed success fraction) in trials.
        var previous = -1.0
        for k in 0...200 {
            let value = try ClopperPearson.lowerBound(successes: k, trials: 200, alpha: 0.001)
            #expect(value > previous || (k == 0 && value == 0), "not increasing at k = \(k)")
            #expect(value < Double(k) / 200 || k == 0)
            previous = value
        }
        previous = 0
        for alpha in [1e-12, 1e-9, 1e-6, 1e-3, 0.01, 0.05, 0.2, 0.5, 0.9] {
            let value = try ClopperPearson.lowerBound(successes: 70, trials: 100, alpha: alpha)
            #expect(value > previous)
            previous = value
        }
        previous = 0
        for n in [10, 100, 1000, 10_000, 100_000, 1_000_000] {
            let value = try ClopperPearson.lowerBound(successes: 9 * n / 10, trials: n, alpha: 0.001)
            #expect(value > previous && value < 0.9)
            previous = value
        }
        #expect(previous > 0.899)  // n = 1e6: within ~1e-3 of 0.9
        // Non-integer counts interpolate between their integer neighbours.
        let low = try ClopperPearson.lowerBound(successes: 7560, trials: 8400, alpha: 0.0005)
        let mid = try ClopperPearson.lowerBound(successes: 7560.5, trials: 8400, alpha: 0.0005)
        let high = try ClopperPearson.lowerBound(successes: 7561, trials: 8400, alpha: 0.0005)
        #expect(low < mid && mid < high)
    }

    @Test func badInputThrows() {
        func rejects(_ k: Double, _ n: Double, _ alpha: Double, matching check: (StatisticsError) -> Bool) {
            do {
                _ = try ClopperPearson.lowerBound(successes: k, trials: n, alpha: alpha)
                Issue.record("lowerBound(\(k), \(n), \(alpha)) did not throw")
            } catch let error as StatisticsError {
                #expect(check(error), "unexpected \(error)")
                #expect(!error.description.isEmpty && !error.description.contains("\n"))
            } catch {
                Issue.record("unexpected error type \(error)")
            }
        }
        for alpha in [0.0, 1.0, -0.1, 1.5, .nan, .infinity] {
            rejects(5, 10, alpha) { if case .invalidProbability(field: "alpha", _, _) = $0 { true } else { false } }
        }
        rejects(-1, 10, 0.01) { if case .invalidCount(field: "successes", _) = $0 { true } else { false } }
        rejects(.nan, 10, 0.01) { if case .invalidCount(field: "successes", _) = $0 { true } else { false } }
        rejects(1, -10, 0.01) { if case .invalidCount(field: "trials", _) = $0 { true } else { false } }
        rejects(1, .infinity, 0.01) { if case .invalidCount(field: "trials", _) = $0 { true } else { false } }
        rejects(11, 10, 0.01) { if case .successesExceedTrials(11, 10) = $0 { true } else { false } }
        #expect(throws: StatisticsError.self) { try ClopperPearson.upperBound(successes: 3, trials: 2, alpha: 0.05) }
        #expect(throws: StatisticsError.self) { try ClopperPearson.lowerBound(successes: -1, trials: 5, alpha: 0.05) }
    }
}
