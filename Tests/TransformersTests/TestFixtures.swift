import Foundation
import Testing

/// Committed golden files (Scripts/gen-transformers-fixtures.py) and the MiniLM model directory when present.
enum TestFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: url(name)))
    }

    /// The all-MiniLM-L6-v2 directory (model.safetensors, vocab.txt, config.json), looked up in
    /// `$EQUICERT_DATA/minilm`, `<package>/data/minilm` (Scripts/setup-data) and `/work/main/data/minilm`.
    /// Tests needing it are disabled with that reason when it is absent.
    static let miniLMDirectory: URL? = {
        let env = ProcessInfo.processInfo.environment
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        var candidates: [String] = []
        if let d = env["EQUICERT_DATA"] { candidates.append(d + "/minilm") }
        candidates.append(package.appendingPathComponent("data/minilm").path)
        candidates.append("/work/main/data/minilm")
        return candidates.map { URL(fileURLWithPath: $0) }.first { dir in
            ["model.safetensors", "vocab.txt", "config.json"].allSatisfy {
                FileManager.default.fileExists(atPath: dir.appendingPathComponent($0).path)
            }
        }
    }()

    static let miniLMMissing: Comment = "all-MiniLM-L6-v2 not found (run Scripts/setup-data or set EQUICERT_DATA; see data/README.md)"

    struct TokenizerCases: Decodable {
        struct Case: Decodable { var text: String; var ids: [Int]; var tokens: [String]; var truncated: Bool }
        var maxLength: Int
        var cases: [Case]
    }

    struct Embeddings: Decodable {
        struct Sentence: Decodable { var text: String; var ids: [Int]; var embedding: [Float] }
        var sentences: [Sentence]
    }

    struct HiddenState: Decodable {
        var text: String; var ids: [Int]; var shape: [Int]; var values: [Float]
    }
}
