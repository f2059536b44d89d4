import Foundation
import Testing

/// Loads a golden-value table written by Scripts/gen-statistics-golden.py (SciPy/mpmath) from the bundled
/// Fixtures directory. Each table is an array of numeric rows; the column order is in the JSON's "columns".
struct Fixture<Tables: Decodable> {
    static func load(_ name: String) throws -> Tables {
        let url = try #require(
            Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"),
            "fixture \(name).json missing: run Scripts/gen-statistics-golden.py")
        return try JSONDecoder().decode(Tables.self, from: Data(contentsOf: url))
    }
}

/// |computed − expected| / max(|expected|, floor): relative error, absolute below `floor`.
func relativeError(_ computed: Double, _ expected: Double, floor: Double = Double.leastNormalMagnitude) -> Double {
    if computed == expected { return 0 }
    return abs(computed - expected) / max(abs(expected), floor)
}
