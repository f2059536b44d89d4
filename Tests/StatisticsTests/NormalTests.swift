import Foundation
import Testing

@testable import Statistics

struct NormalFixture: Decodable {
    /// [x, scipy norm.cdf, mpmath ncdf (40 digits)]
    let cdf: [[Double]]
    /// [p, scipy norm.ppf, mpmath root of ncdf(x) = p (40 digits)]
    let ppf: [[Double]]
}

@Suite("Normal distribution")
struct NormalTests {
    // Φ is held to the 40-digit mpmath value at 1e-15 relative everywhere (≈ 4 ulp: the rounding of
    // x/√2 is corrected). SciPy's ndtr rounds x/√2 and so is off by up to ≈ x²·1.1e-16 relative in the
    // far lower tail (≈ 1.6e-13 at x = −37.5); it is checked at 1e-12·max(1, x²/100) there.
    @Test func cdfMatchesGoldenValues() throws {
        let table = try Fixture<NormalFixture>.load("normal").cdf
        #expect(table.count > 80)
        var worst = 0.0
        for row in table {
            let (x, scipy, exact) = (row[0], row[1], row[2])
            let value = Normal.cdf(x)
            let errExact = relativeError(value, exact)
            worst = max(worst, errExact)
            #expect(errExact <= 1e-15, "Φ(\(x)) = \(value), mpmath \(exact)")
            #expect(relativeError(value, scipy) <= 1e-12 * max(1, x * x / 100), "Φ(\(x)) = \(value), SciPy \(scipy)")
            #expect(relativeError(Normal.survival(-x), exact) <= 1e-15)
        }
        print("Normal.cdf worst relative error vs mpmath: \(worst)")
    }

    // Φ⁻¹ against mpmath at 1e-15 relative on the whole grid (1e-300 … 1 − 2⁻⁵³). Near p = ½ the
    // quantile is tiny (Φ⁻¹(½ + 1e−15) ≈ 2.5e−15) and still held relatively: the residual is formed
    // without cancellation. SciPy's ndtri is held at 1e-12 (brief), loosened to 1e-9 for |x| < 1e-6 where
    // SciPy's own result for p = ½ ± 1e−15 carries the rounding of p − ½ in its rational approximation.
    @Test func quantileMatchesGoldenValues() throws {
        let table = try Fixture<NormalFixture>.load("normal").ppf
        #expect(table.count > 80)
        var worst = 0.0
        for row in table {
            let (p, scipy, exact) = (row[0], row[1], row[2])
            let value = Normal.quantile(p)
            let err = relativeError(value, exact)
            worst = max(worst, err)
            #expect(err <= 1e-15, "Φ⁻¹(\(p)) = \(value), mpmath \(exact)")
            #expect(
                relativeError(value, scipy) <= (abs(exact) < 1e-6 ? 1e-9 : 1e-12),
                "Φ⁻¹(\(p)) = \(value), SciPy \(scipy)")
        }
        print("Normal.quantile worst relative error vs mpmath: \(worst)")
    }

    @Test func quantileEdgesAndSymmetry() {
        #expect(Normal.quantile(0) == -.infinity)
        #expect(Normal.quantile(1) == .infinity)
        #expect(Normal.quantile(0.5) == 0)
        #expect(Normal.cdf(0) == 0.5)
        #expect(Normal.cdf(-.infinity) == 0)
        #expect(Normal.cdf(.infinity) == 1)
        #expect(Normal.cdf(.nan).isNaN)
        // 1 − q is exact for q ≥ ½, so the two sides must agree exactly.
        for q in [0.5000001, 0.6, 0.975, 0.999, 1 - 1e-12, (1.0).nextDown] {
            #expect(Normal.quantile(q) == -Normal.quantile(1 - q))
            #expect(Normal.quantile(q) > 0)
        }
    }

    @Test func roundTripAndMonotone() {
        var previous = -Double.infinity
        var p = 1e-300
        while p < 0.5 {
            let x = Normal.quantile(p)
            #expect(x > previous, "Φ⁻¹ not increasing at p = \(p)")
            // Rounding x to a double moves Φ(x) by a relative (|x|·φ(x)/Φ(x))·ε/2 ≈ (1 + x²)·ε/2, so the
            // round trip is held to that condition number times a few ulp.
            let tolerance = 4 * Double.ulpOfOne * (1 + x * x)
            #expect(relativeError(Normal.cdf(x), p) < tolerance, "Φ(Φ⁻¹(\(p))) = \(Normal.cdf(x))")
            previous = x
            p *= 3.7
        }
        var x = -37.0
        var last = 0.0
        while x < 8 {
            let value = Normal.cdf(x)
            #expect(value > last)
            last = value
            x += 0.37
        }
    }

    @Test func outOfDomainProbabilityIsAProgrammerError() async {
        await #expect(processExitsWith: .failure) { _ = Normal.quantile(1.5) }
        await #expect(processExitsWith: .failure) { _ = Normal.quantile(-0.1) }
    }
}
