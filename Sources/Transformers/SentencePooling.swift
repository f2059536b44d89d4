import TensorCore

/// Sentence embeddings from token states (sentence-transformers' convention): the mean over real tokens,
/// then L2 normalisation.
public enum SentencePooling {
    /// pooled[b] = Σ_t m[b,t]·x[b,t] / max(Σ_t m[b,t], 1e-9). x [B, T, H], mask [B·T] → [B, H].
    public static func mean(_ x: Tensor, mask: [Float]) -> Tensor {
        precondition(x.rank == 3 && mask.count == x.shape[0] * x.shape[1], "x \(x.shape), mask \(mask.count)")
        let (b, t, h) = (x.shape[0], x.shape[1], x.shape[2])
        var y = Tensor(shape: [b, h])
        var acc = [Double](repeating: 0, count: h)
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                for s in 0..<b {
                    for j in 0..<h { acc[j] = 0 }
                    var n: Float = 0
                    for i in 0..<t where mask[s * t + i] != 0 {
                        let m = mask[s * t + i], row = px.baseAddress! + (s * t + i) * h
                        n += m
                        for j in 0..<h { acc[j] += Double(m * row[j]) }
                    }
                    let inv = 1 / Double(max(n, 1e-9))
                    for j in 0..<h { py[s * h + j] = Float(acc[j] * inv) }
                }
            }
        }
        return y
    }

    /// Backward of `mean`: dx[b,t] = m[b,t]·dpooled[b] / Σ_t m[b,t]. Returns [B, T, H].
    public static func meanBackward(_ dPooled: Tensor, mask: [Float], length t: Int) -> Tensor {
        let (b, h) = (dPooled.shape[0], dPooled.shape[1])
        precondition(mask.count == b * t)
        var dx = Tensor(shape: [b, t, h])
        dPooled.withUnsafeBufferPointer { pd in
            dx.withUnsafeMutableBufferPointer { px in
                for s in 0..<b {
                    var n: Float = 0
                    for i in 0..<t { n += mask[s * t + i] }
                    let inv = 1 / max(n, 1e-9)
                    for i in 0..<t where mask[s * t + i] != 0 {
                        let w = mask[s * t + i] * inv, row = px.baseAddress! + (s * t + i) * h
                        for j in 0..<h { row[j] = w * pd[s * h + j] }
                    }
                }
            }
        }
        return dx
    }

    /// Rows divided by max(‖row‖₂, ε) (as torch.nn.functional.normalize). [N, H] → [N, H].
    public static func l2Normalized(_ x: Tensor, epsilon: Float = 1e-12) -> Tensor {
        precondition(x.rank == 2)
        let (n, h) = (x.shape[0], x.shape[1])
        var y = x
        y.withUnsafeMutableBufferPointer { p in
            for r in 0..<n {
                var s = 0.0
                for j in 0..<h { s += Double(p[r * h + j]) * Double(p[r * h + j]) }
                let inv = Float(1 / max(s.squareRoot(), Double(epsilon)))
                for j in 0..<h { p[r * h + j] *= inv }
            }
        }
        return y
    }
}
