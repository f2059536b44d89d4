import Foundation
import Testing

@testable import Equilibrium

@Test("DEQ-S architecture validation: groups 0, a bad ε or normalisation is one clear error, never a crash")
func deqConfigurationValidation() throws {
    func config(_ change: (inout DEQConfiguration) -> Void) -> DEQConfiguration {
        var c = DEQConfiguration(
            inputHeight: 8, inputWidth: 8, inputChannels: 1, classes: 3, channels: 4, expansion: 1,
            groups: 2, normalizationMean: 0.5, normalizationStd: 0.3)
        change(&c)
        return c
    }
    try config { _ in }.validate()
    let cases: [(String, (inout DEQConfiguration) -> Void)] = [
        ("groups", { $0.groups = 0 }), ("groups", { $0.groups = -2 }), ("channels", { $0.channels = 3 }),
        ("epsilon", { $0.epsilon = -1 }), ("epsilon", { $0.epsilon = .nan }), ("normalizationStd", { $0.normalizationStd = 0 }),
        ("normalizationMean", { $0.normalizationMean = .infinity }), ("injectionStride", { $0.injectionStride = 0 }),
    ]
    for (field, change) in cases {
        #expect {
            try config(change).validate()
        } throws: { error in
            guard case .invalidConfiguration(let f, _, _)? = error as? EquilibriumError else { return false }
            return f == field
        }
    }
    // From checkpoint metadata: the same errors, so a checkpoint with groups 0 is refused on load.
    var json = config { _ in }.jsonString()
    json = json.replacingOccurrences(of: "\"groups\":2", with: "\"groups\":0")
    #expect(throws: EquilibriumError.invalidConfiguration(field: "groups", value: "0", reason: "must be ≥ 1")) {
        _ = try DEQConfiguration.fromJSON(json, path: "m.safetensors")
    }
}
