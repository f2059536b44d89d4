import TensorCore
import Transformers

/// Nearest neighbours of a word in a model's own input-embedding space (the substitutes of the word-substitution
/// attack): candidates are the whole-word vocabulary tokens (alphabetic, ≥ 2 letters, not `##` pieces or special
/// tokens); similarity is the cosine of the embedding rows. A word that is not a single vocabulary token has none.
public struct EmbeddingNeighbours: Sendable {
    /// Candidate tokens and their unit-norm embedding rows [C, H].
    public let candidates: [String]
    let unitRows: [Float]
    let width: Int
    let rowOfToken: [String: Int]
    let embeddingOfToken: [String: [Float]]

    /// `embeddings` [V, H]: row v is token v of `tokenizer`.
    public init(tokenizer: WordPieceTokenizer, embeddings: Tensor) {
        precondition(embeddings.rank == 2 && embeddings.shape[0] == tokenizer.vocabularySize)
        let h = embeddings.shape[1]
        width = h
        var names: [String] = [], rows: [Float] = [], index: [String: Int] = [:], all: [String: [Float]] = [:]
        embeddings.withUnsafeBufferPointer { e in
            for (v, token) in tokenizer.tokens.enumerated() {
                let isWord = token.count >= 2 && token.allSatisfy { $0.isLetter && $0.isASCII }
                guard isWord else { continue }
                let row = Array(e[(v * h)..<((v + 1) * h)])
                var n: Float = 0
                for x in row { n += x * x }
                n = n.squareRoot()
                guard n > 0 else { continue }
                index[token] = names.count
                names.append(token)
                rows += row.map { $0 / n }
                all[token] = row
            }
        }
        candidates = names; unitRows = rows; rowOfToken = index; embeddingOfToken = all
    }

    /// Up to `count` neighbours of `word` (compared in lower case) with cosine ≥ `minimumSimilarity`, most similar
    /// first, the word itself excluded. Neighbours keep the word's capitalisation pattern (Title or UPPER).
    public func neighbours(of word: String, count: Int, minimumSimilarity: Float) -> [(word: String, similarity: Float)] {
        let key = word.lowercased()
        guard let r = rowOfToken[key], count > 0 else { return [] }
        let c = candidates.count
        var sims = [Float](repeating: 0, count: c)
        unitRows.withUnsafeBufferPointer { u in
            sims.withUnsafeMutableBufferPointer { s in
                // sims = U · u_r (one sgemv over all candidates).
                BLAS.sgemm(
                    transA: false, transB: true, m: c, n: 1, k: width, a: u.baseAddress!, lda: width,
                    b: u.baseAddress! + r * width, ldb: width, c: s.baseAddress!, ldc: 1)
            }
        }
        var best: [(Int, Float)] = []
        for i in 0..<c where i != r && sims[i] >= minimumSimilarity { best.append((i, sims[i])) }
        best.sort { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
        let upper = word.count > 1 && word.allSatisfy { !$0.isLetter || $0.isUppercase }
        let title = !upper && (word.first?.isUppercase ?? false)
        return best.prefix(count).map { (i, s) in
            let w = candidates[i]
            return (upper ? w.uppercased() : title ? w.prefix(1).uppercased() + w.dropFirst() : w, s)
        }
    }
}
