import Foundation
import TensorCore
import Transformers

/// Texts → sentence embeddings (one row per text).
public protocol SentenceEncoder {
    func embed(_ texts: [String]) throws -> [[Float]]
}

/// all-MiniLM-L6-v2 sentence embeddings (mean of the last hidden states over real tokens, L2-normalised; the
/// `equicert embed` computation): the pretrained encoder, not a fine-tuned victim, plays the part of TextFooler's
/// Universal Sentence Encoder.
public struct MiniLMSentenceEncoder: SentenceEncoder {
    public let encoder: PretrainedEncoder
    public let maxLength: Int
    public let batchSize: Int

    public init(encoder: PretrainedEncoder, maxLength: Int? = nil, batchSize: Int = 32) {
        self.encoder = encoder; self.maxLength = maxLength ?? encoder.defaultMaxLength; self.batchSize = batchSize
    }

    /// Reads a model directory (`model.safetensors`, `vocab.txt`, `config.json`), e.g. `data/minilm`.
    public init(directory: URL, maxLength: Int? = nil) throws {
        self.init(encoder: try PretrainedEncoder(directory: directory), maxLength: maxLength)
    }

    public func embed(_ texts: [String]) throws -> [[Float]] {
        let (e, _) = try encoder.sentenceEmbeddings(texts, maxLength: maxLength, batchSize: batchSize)
        let h = e.shape[1]
        return e.withUnsafeBufferPointer { p in (0..<texts.count).map { Array(p[($0 * h)..<(($0 + 1) * h)]) } }
    }
}

/// TextFooler's sentence-similarity constraint: the cosine of the sentence embeddings of the original and the
/// perturbed text, both cut to a window of `windowSize` words centred on the word being replaced (moved inside the
/// text at its ends; the whole text when it is shorter), must be at least `threshold`.
public struct SentenceSimilarity {
    public let encoder: any SentenceEncoder
    public let threshold: Double
    public let windowSize: Int

    /// `threshold` in [0, 1] (else `AttackError.similarityThresholdOutOfRange`); `windowSize` ≥ 1 words.
    public init(encoder: any SentenceEncoder, threshold: Double, windowSize: Int = 15) throws {
        guard threshold >= 0, threshold <= 1 else { throw AttackError.similarityThresholdOutOfRange(value: threshold) }
        guard windowSize >= 1 else {
            throw AttackError.invalidOption(name: "similarity-window", value: "\(windowSize)", reason: "must be ≥ 1 word")
        }
        self.encoder = encoder; self.threshold = threshold; self.windowSize = windowSize
    }

    /// The word range of the window around `position` in a text of `count` words.
    public func window(around position: Int, count: Int) -> Range<Int> {
        guard count > windowSize else { return 0..<count }
        let lo = Swift.min(Swift.max(0, position - windowSize / 2), count - windowSize)
        return lo..<(lo + windowSize)
    }

    /// Cosine of the window of the original text and the window of each perturbed text (`replacements` applied to
    /// `words`; same word count, so the same window). One encoder call for all.
    public func windowSimilarities(_ words: TextWords, position: Int, replacements: [[Int: String]]) throws -> [Float] {
        let range = window(around: position, count: words.count)
        let texts = [words.render(range: range)] + replacements.map { words.render(range: range, replacing: $0) }
        let e = try embed(texts)
        return e.dropFirst().map { Self.cosine(e[0], $0) }
    }

    /// Cosine of the sentence embeddings of two whole texts.
    public func similarity(_ a: String, _ b: String) throws -> Float {
        let e = try embed([a, b])
        return Self.cosine(e[0], e[1])
    }

    func embed(_ texts: [String]) throws -> [[Float]] {
        do { return try encoder.embed(texts) } catch { throw AttackError.sentenceEncoder(reason: "\(error)") }
    }

    public static func cosine(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        var d = 0.0, na = 0.0, nb = 0.0
        for i in a.indices { d += Double(a[i]) * Double(b[i]); na += Double(a[i]) * Double(a[i]); nb += Double(b[i]) * Double(b[i]) }
        return na == 0 || nb == 0 ? 0 : Float(d / (na.squareRoot() * nb.squareRoot()))
    }
}

extension TextWords {
    /// Words `range` with the separators between them (not those before the first or after the last), with
    /// replacements as in `render(replacing:)`.
    public func render(range: Range<Int>, replacing replacements: [Int: String] = [:]) -> String {
        var out = ""
        for i in range {
            let w = replacements[i] ?? words[i]
            if !w.isEmpty { out += w } else if out.hasSuffix(" ") && separators[i + 1].hasPrefix(" ") { out.removeLast() }
            if i + 1 < range.upperBound { out += separators[i + 1] }
        }
        return out
    }
}
