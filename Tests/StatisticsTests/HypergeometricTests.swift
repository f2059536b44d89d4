import Foundation
import TensorCore
import Testing

@testable import Statistics

struct HypergeometricFixture: Decodable {
    /// [population, marked, draws, x, scipy hypergeom.cdf, scipy logpmf (−1e308 where the pmf is 0)]
    let cdf: [[Double]]
    /// [population, draws, x, alpha, largest K with scipy cdf(x; N, K, k) > alpha]
    let upper_bound: [[Double]]
}

@Suite("Hypergeometric distribution and the audit's upper bound")
struct HypergeometricTests {
    @Test func cdfAndLogPMFMatchSciPy() throws {
        let table = try Fixture<HypergeometricFixture>.load("hypergeometric").cdf
        #expect(table.count >= 20)
        for row in table {
            let (n, m, k, x) = (Int(row[0]), Int(row[1]), Int(row[2]), Int(row[3]))
            let cdf = try Hypergeometric.cdf(x, population: n, marked: m, draws: k)
            #expect(relativeError(cdf, row[4], floor: 1e-300) <= 1e-12, "cdf(\(x); \(n), \(m), \(k)) = \(cdf), SciPy \(row[4])")
            let lp = try Hypergeometric.logProbability(x, population: n, marked: m, draws: k)
            if row[5] > -1e300 {
                #expect(abs(lp - row[5]) <= 1e-9 * max(1, abs(row[5])), "logpmf(\(x); \(n), \(m), \(k)) = \(lp), SciPy \(row[5])")
            } else {
                #expect(lp == -.infinity)
            }
        }
    }

    @Test func upperBoundMatchesSciPyBisection() throws {
        for row in try Fixture<HypergeometricFixture>.load("hypergeometric").upper_bound {
            let (n, k, x, alpha) = (Int(row[0]), Int(row[1]), Int(row[2]), row[3])
            let bound = try Hypergeometric.upperBound(observed: x, population: n, draws: k, alpha: alpha)
            #expect(bound == Int(row[4]), "UCB(x=\(x), N=\(n), k=\(k), α=\(alpha)) = \(bound), SciPy \(Int(row[4]))")
        }
    }

    /// Coverage: for a fixed population with D marked items, P(bound < D) ≤ α over repeated draws. α = 0.1 and
    /// 4,000 repetitions: the 3.5σ band above α is 0.117, and a bound that ignored sampling error (x·N/k) fails
    /// about half the time, so the test can fail.
    @Test func upperBoundCoversTheTruth() throws {
        let alpha = 0.1, n = 500, k = 60, reps = 4_000
        var random = SplitMix64(seed: 0x9E37_79B9_7F4A_7C15)
        for d in [3, 40, 250] {
            var misses = 0, naiveMisses = 0
            for _ in 0..<reps {
                // Draw k of n without replacement; items 0..<d are marked.
                var pool = Array(0..<n), x = 0
                for i in 0..<k {
                    let j = i + Int(random.next() % UInt64(n - i))
                    pool.swapAt(i, j)
                    if pool[i] < d { x += 1 }
                }
                if try Hypergeometric.upperBound(observed: x, population: n, draws: k, alpha: alpha) < d { misses += 1 }
                if x * n / k < d { naiveMisses += 1 }
            }
            let rate = Double(misses) / Double(reps)
            #expect(rate <= alpha + 3.5 * (alpha * (1 - alpha) / Double(reps)).squareRoot(), "D = \(d): miss rate \(rate)")
            #expect(Double(naiveMisses) / Double(reps) > 0.3, "the point estimate should miss often (D = \(d))")
        }
    }

    @Test func badInputThrows() {
        #expect(throws: StatisticsError.self) { try Hypergeometric.upperBound(observed: 5, population: 100, draws: 4, alpha: 0.01) }
        #expect(throws: StatisticsError.self) { try Hypergeometric.upperBound(observed: 0, population: 100, draws: 101, alpha: 0.01) }
        #expect(throws: StatisticsError.self) { try Hypergeometric.upperBound(observed: 0, population: 100, draws: 10, alpha: 0) }
        #expect(throws: StatisticsError.self) { try Hypergeometric.cdf(0, population: 10, marked: 11, draws: 3) }
    }
}
