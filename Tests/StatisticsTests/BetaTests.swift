import Foundation
import Testing

@testable import Statistics

struct BetaFixture: Decodable {
    /// [x, a, b, scipy betainc, scipy betaincc]
    let incomplete: [[Double]]
    /// [p, a, b, scipy betaincinv]
    let inverse: [[Double]]
}

@Suite("Beta functions")
struct BetaTests {
    /// Relative tolerance against SciPy (Boost's ibeta, itself accurate to ~1e-15; spot checks against
    /// 40-digit mpmath agree with SciPy). 1e-12 in general. 2e-10 when one parameter is ≥ 1e4 and at least
    /// 1000 times the other: there x lies within ~b/a of 1 (or a/b of 0) and the leading denominators of the
    /// continued fraction, 1 + dₘ with dₘ ≈ −x, cancel to ~b/a, costing up to log₁₀(a/b) digits
    /// (measured worst ≈ 7e-11 at a = 1e6, b = 0.2…50). The brief's bound for the beta functions is 1e-9.
    static func tolerance(_ a: Double, _ b: Double) -> Double {
        max(a, b) >= 1e4 && max(a, b) >= 1000 * min(a, b) ? 2e-10 : 1e-12
    }

    @Test func incompleteMatchesSciPy() throws {
        let table = try Fixture<BetaFixture>.load("beta").incomplete
        #expect(table.count > 400)
        var worst = 0.0
        for row in table {
            let (x, a, b, w, wc) = (row[0], row[1], row[2], row[3], row[4])
            let lower = Beta.regularizedIncomplete(x, a: a, b: b)
            let upper = Beta.regularizedIncompleteComplement(x, a: a, b: b)
            let e1 = relativeError(lower, w, floor: 1e-300)
            let e2 = relativeError(upper, wc, floor: 1e-300)
            worst = max(worst, e1, e2)
            #expect(e1 <= Self.tolerance(a, b), "I_\(x)(\(a), \(b)) = \(lower), SciPy \(w)")
            #expect(e2 <= Self.tolerance(a, b), "1 − I_\(x)(\(a), \(b)) = \(upper), SciPy \(wc)")
        }
        print("Beta.regularizedIncomplete worst relative error vs SciPy: \(worst)")
    }

    @Test func inverseMatchesSciPy() throws {
        let table = try Fixture<BetaFixture>.load("beta").inverse
        #expect(table.count > 300)
        var worst = 0.0
        for row in table {
            let (p, a, b, x) = (row[0], row[1], row[2], row[3])
            let value = Beta.inverseRegularizedIncomplete(p, a: a, b: b)
            let err = relativeError(value, x)
            worst = max(worst, err)
            #expect(err <= Self.tolerance(a, b), "I⁻¹(\(p); \(a), \(b)) = \(value), SciPy \(x)")
        }
        print("Beta.inverseRegularizedIncomplete worst relative error vs SciPy: \(worst)")
    }

    @Test func logBetaClosedForms() {
        #expect(relativeError(Beta.logBeta(1e6, 1), -log(1e6)) < 1e-15)
        #expect(relativeError(Beta.logBeta(1, 2.5e7), -log(2.5e7)) < 1e-15)
        #expect(relativeError(Beta.logBeta(0.5, 0.5), log(Double.pi)) < 1e-15)
        // B(n, m) = (n−1)!(m−1)!/(n+m−1)! for integers: B(3, 4) = 2·6/720 = 1/60.
        #expect(relativeError(Beta.logBeta(3, 4), -log(60.0)) < 1e-15)
        // B(12, 15) = 11!·14!/26!, large enough for the Stirling branch.
        let exact = (lgamma_exact(12) + lgamma_exact(15) - lgamma_exact(27))
        #expect(abs(Beta.logBeta(12, 15) - exact) < 1e-13)
        #expect(Beta.logBeta(2.5, 7.5) == Beta.logBeta(7.5, 2.5))
    }

    /// ln((n−1)!) by summing logarithms (exact enough for n ≤ 30 to 1e-14).
    func lgamma_exact(_ n: Int) -> Double {
        (1..<n).reduce(0.0) { $0 + log(Double($1)) }
    }

    @Test func closedFormSpecialCases() {
        for (x, a) in [(0.3, 2.0), (0.999996, 1e6), (0.5, 0.25), (1e-5, 3.7)] {
            // I_x(a, 1) = x^a and I_x(1, a) = 1 − (1 − x)^a.
            #expect(relativeError(Beta.regularizedIncomplete(x, a: a, b: 1), pow(x, a)) < 1e-13)
            #expect(relativeError(Beta.regularizedIncompleteComplement(x, a: 1, b: a), pow(1 - x, a)) < 1e-13)
        }
        #expect(Beta.regularizedIncomplete(0, a: 2, b: 3) == 0)
        #expect(Beta.regularizedIncomplete(1, a: 2, b: 3) == 1)
        #expect(Beta.regularizedIncompleteComplement(0, a: 2, b: 3) == 1)
        // I_½(a, a) = ½ by symmetry.
        for a in [0.01, 1.0, 7.5, 1234.0, 1e6] {
            // ~√a continued-fraction terms at a = 1e6 leave ≈ 1e-13.
            #expect(abs(Beta.regularizedIncomplete(0.5, a: a, b: a) - 0.5) < (a > 1e4 ? 1e-12 : 1e-14), "a = \(a)")
        }
    }

    @Test func symmetryAndMonotonicity() {
        for (a, b) in [(0.3, 7.2), (2.0, 3.0), (50.0, 60.0), (7560.0, 841.0), (1e5, 3.0)] {
            var previous = 0.0
            for i in 1..<200 {
                let x = Double(i) / 200
                let lower = Beta.regularizedIncomplete(x, a: a, b: b)
                let upper = Beta.regularizedIncompleteComplement(x, a: a, b: b)
                #expect(abs(lower + upper - 1) < 1e-14)
                #expect(relativeError(Beta.regularizedIncompleteComplement(1 - x, a: b, b: a), lower, floor: 1e-300) < 1e-12)
                #expect(lower >= previous, "I not monotone in x at x = \(x), a = \(a), b = \(b)")
                previous = lower
            }
        }
        // Decreasing in a, increasing in b at fixed x.
        var last = 1.0
        for a in stride(from: 0.5, through: 40, by: 0.5) {
            let value = Beta.regularizedIncomplete(0.4, a: a, b: 20)
            #expect(value <= last)
            last = value
        }
    }

    /// The inverse reproduces p through the forward function, over non-integer and extreme parameters and
    /// probabilities down to 1e-300; the tolerance is the forward function's sensitivity to the last bit of
    /// x (|d ln I / d ln x|·ε, evaluated from the density) plus a few ulp.
    @Test func inverseRoundTrip() {
        let parameters: [(Double, Double)] = [
            (0.001, 1), (0.05, 0.05), (0.5, 0.5), (0.37, 12.9), (12.9, 0.37),
            (3, 5), (7560, 841), (1e6, 1), (1e6, 1.5), (1e6, 1e6),
            (7.25, 1e6), (123.456, 666.556),
        ]
        let probabilities = [1e-300, 1e-50, 1e-9, 0.0005, 0.05, 0.3, 0.5, 0.77, 0.999, 1 - 1e-12]
        for (a, b) in parameters {
            var previous = 0.0
            for p in probabilities {
                let x = Beta.inverseRegularizedIncomplete(p, a: a, b: b)
                #expect(x >= previous, "inverse not monotone at p = \(p), a = \(a), b = \(b)")
                previous = x
                // Roots that no double resolves (e.g. a = 1e-3, p = 1e-300 gives x = 1e-300000; a = b = 0.05,
                // p = 0.999 gives x within 2⁻⁵³ of 1) have nothing to round-trip.
                if x < Double.leastNormalMagnitude || x >= (1.0).nextDown { continue }
                let target = p <= 0.5 ? p : 1 - p
                let back =
                    p <= 0.5
                    ? Beta.regularizedIncomplete(x, a: a, b: b)
                    : Beta.regularizedIncompleteComplement(x, a: a, b: b)
                let logDensity = (a - 1) * log(x) + (b - 1) * log1p(-x) - Beta.logBeta(a, b)
                let sensitivity = exp(logDensity) * x / target  // |d ln I / d ln x|
                // x is within 1 ulp (≤ 2ε relative) of the root; both evaluations carry the forward error.
                let tolerance = 4e-15 + 4 * Double.ulpOfOne * sensitivity + 2 * Self.tolerance(a, b)
                #expect(
                    relativeError(back, target) <= tolerance,
                    "I(I⁻¹(\(p))) = \(back) for a = \(a), b = \(b), x = \(x)")
                // The complement inverse at 1 − p (exact for p ≥ ½) solves the same equation.
                if p >= 0.5 {
                    let other = Beta.inverseRegularizedIncompleteComplement(1 - p, a: a, b: b)
                    #expect(relativeError(other, x) <= 4e-15 + Self.tolerance(a, b) / max(1, sensitivity))
                }
            }
        }
    }

    @Test func invalidParametersAreProgrammerErrors() async {
        await #expect(processExitsWith: .failure) { _ = Beta.regularizedIncomplete(0.5, a: 0, b: 1) }
        await #expect(processExitsWith: .failure) { _ = Beta.regularizedIncomplete(1.5, a: 1, b: 1) }
        await #expect(processExitsWith: .failure) { _ = Beta.inverseRegularizedIncomplete(0.5, a: 1, b: -2) }
    }
}
