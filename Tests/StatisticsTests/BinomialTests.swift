import Foundation
import Testing

@testable import Statistics

struct BinomialFixture: Decodable {
    /// [k, n, p, scipy binomtest(k, n, p).pvalue]
    let binomtest: [[Double]]
    /// [k, n, p, scipy binom.logpmf, mpmath log pmf (40 digits), scipy binom.cdf, binom.sf]
    let pmf: [[Double]]
}

@Suite("Binomial distribution and exact binomial test")
struct BinomialTests {
    /// Relative tolerance of tail sums against SciPy (brief: 1e-9): 1e-12, but 1e-11 for n ≥ 1e5, where the
    /// incomplete beta with both parameters ~1e5…1e6 sums ~√n continued-fraction terms (measured ≤ 2e-12),
    /// and BetaTests.tolerance's 2e-10 when the beta parameters (k + 1, n − k) are ≥ 1000-fold apart.
    /// The term selection (pmf(j) ≤ pmf(k)·(1 + 1e-7)) is insensitive to pmf errors ≪ 1e-7.
    static func tolerance(_ k: Int, _ n: Int) -> Double {
        max(n >= 100_000 ? 1e-11 : 1e-12, BetaTests.tolerance(Double(k + 1), Double(max(n - k, 1))))
    }

    @Test func twoSidedPValueMatchesSciPy() throws {
        let table = try Fixture<BinomialFixture>.load("binomial").binomtest
        #expect(table.count >= 50)
        var worst = 0.0
        for row in table {
            let (k, n, p, expected) = (Int(row[0]), Int(row[1]), row[2], row[3])
            let value = try BinomialTest.twoSidedPValue(successes: k, trials: n, p: p)
            let err = relativeError(value, expected, floor: 1e-300)
            worst = max(worst, err)
            #expect(err <= Self.tolerance(k, n), "binomtest(\(k), \(n), \(p)) = \(value), SciPy \(expected)")
        }
        print("BinomialTest.twoSidedPValue worst relative error vs SciPy: \(worst)")
    }

    // log pmf against the exact (mpmath) value at 1e-13·max(1, |log pmf|) absolute, i.e. the pmf to ~1e-13
    // relative (Loader's saddle-point form has no large cancelling terms); SciPy's logpmf is itself off by up
    // to ~3e-9 at n = 1e6, so it is only held at 1e-8. cdf/sf against SciPy at the tail tolerance above.
    @Test func distributionMatchesReferences() throws {
        let table = try Fixture<BinomialFixture>.load("binomial").pmf
        #expect(table.count >= 50)
        for row in table {
            let (k, n, p) = (Int(row[0]), Int(row[1]), row[2])
            let logPMF = try Binomial.logPMF(k, trials: n, p: p)
            #expect(abs(logPMF - row[4]) <= 1e-13 * max(1, abs(row[4])), "logpmf(\(k); \(n), \(p)) = \(logPMF), exact \(row[4])")
            #expect(abs(logPMF - row[3]) <= 1e-8 * max(1, abs(row[3])), "logpmf(\(k); \(n), \(p)) = \(logPMF), SciPy \(row[3])")
            let cdf = try Binomial.cdf(k, trials: n, p: p), sf = try Binomial.survival(k, trials: n, p: p)
            #expect(relativeError(cdf, row[5], floor: 1e-300) <= Self.tolerance(k, n), "cdf(\(k); \(n), \(p)) = \(cdf), SciPy \(row[5])")
            #expect(relativeError(sf, row[6], floor: 1e-300) <= Self.tolerance(k, n), "sf(\(k); \(n), \(p)) = \(sf), SciPy \(row[6])")
        }
    }

    /// Independent of SciPy: brute-force the definition by summing every pmf term, for all k of small n.
    @Test func pValueMatchesBruteForceDefinition() throws {
        for (n, p) in [(1, 0.5), (7, 0.5), (20, 0.3), (31, 0.77), (60, 0.5), (45, 0.05)] {
            let pmf = try (0...n).map { try Binomial.pmf($0, trials: n, p: p) }
            #expect(abs(pmf.reduce(0, +) - 1) < 1e-13)
            for k in 0...n {
                let threshold = pmf[k] * BinomialTest.relativeTolerance
                let brute = Double(k) == Double(n) * p ? 1 : min(1, pmf.filter { $0 <= threshold }.reduce(0, +))
                let value = try BinomialTest.twoSidedPValue(successes: k, trials: n, p: p)
                #expect(abs(value - brute) <= 1e-13 * max(brute, 1e-300) + 1e-300, "k = \(k), n = \(n), p = \(p)")
            }
        }
    }

    @Test func symmetryAndMonotonicityAtOneHalf() throws {
        // At p = ½ the p-value of k equals that of n − k, and falls as k moves away from n/2.
        let n = 1_000_000
        var previous = 1.0
        for k in stride(from: 500_000, through: 504_000, by: 250) {
            let value = try BinomialTest.twoSidedPValue(successes: k, trials: n, p: 0.5)
            let mirrored = try BinomialTest.twoSidedPValue(successes: n - k, trials: n, p: 0.5)
            #expect(relativeError(value, mirrored, floor: 1e-300) < 1e-12)
            #expect(value <= previous)
            previous = value
        }
        #expect(previous < 1e-9)
        #expect(try BinomialTest.twoSidedPValue(successes: 5, trials: 10, p: 0.5) == 1)
        #expect(try BinomialTest.twoSidedPValue(successes: 0, trials: 0, p: 0.5) == 1)
        #expect(try BinomialTest.twoSidedPValue(successes: 3, trials: 10, p: 0) == 0)
        #expect(try BinomialTest.twoSidedPValue(successes: 0, trials: 10, p: 0) == 1)
        #expect(try BinomialTest.twoSidedPValue(successes: 9, trials: 10, p: 1) == 0)
    }

    @Test func badInputThrows() {
        #expect(throws: StatisticsError.self) { try BinomialTest.twoSidedPValue(successes: 11, trials: 10, p: 0.5) }
        #expect(throws: StatisticsError.self) { try BinomialTest.twoSidedPValue(successes: -1, trials: 10, p: 0.5) }
        #expect(throws: StatisticsError.self) { try BinomialTest.twoSidedPValue(successes: 1, trials: -10, p: 0.5) }
        #expect(throws: StatisticsError.self) { try BinomialTest.twoSidedPValue(successes: 1, trials: 10, p: 1.5) }
        #expect(throws: StatisticsError.self) { try BinomialTest.twoSidedPValue(successes: 1, trials: 10, p: .nan) }
        #expect(throws: StatisticsError.self) { try Binomial.logPMF(1, trials: 10, p: -0.5) }
        do {
            _ = try BinomialTest.twoSidedPValue(successes: 11, trials: 10, p: 0.5)
        } catch {
            #expect(String(describing: error) == "statistics: successes = 11.0 exceed trials = 10.0")
        }
    }
}
