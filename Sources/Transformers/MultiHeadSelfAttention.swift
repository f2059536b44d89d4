import NeuralNet
import TensorCore

// Names: B sequences, T positions, H hidden width, nh heads, d = H/nh head width, G = B·nh groups.
// Token-major activations are [B·T, H] (head h occupies columns h·d ..< (h+1)·d); head-major ones [G, T, d].

/// Multi-head self-attention with a key padding mask, BERT layout (without the residual and LayerNorm):
///
///     q, k, v = x·Wqᵀ + bq, x·Wkᵀ + bk, x·Wvᵀ + bv          (three GEMMs over all B·T tokens)
///     A[g] = softmax(q_g·k_gᵀ/√d + M)                        M = −max Float on padding keys, 0 elsewhere
///     y = concat_heads(combine(A, v))·Woᵀ + bo               combine = A·v by default (`combiner`)
///
/// Parameters: `<prefix>.self.{query,key,value}.{weight,bias}`, `<prefix>.output.dense.{weight,bias}`.
/// Shapes: x, y [B, T, H]; keyMask [B·T] with 1 on tokens, 0 on padding. Each sequence needs one real token
/// (otherwise its rows are uniform over all keys, never NaN).
public struct MultiHeadSelfAttention: Sendable {
    public let query: Dense, key: Dense, value: Dense, output: Dense
    public let hiddenSize: Int, headCount: Int
    /// The A·V step; replace it to change the attention rule of this layer.
    public var combiner: any AttentionCombiner

    public init(
        _ prefix: String, hiddenSize: Int, headCount: Int, in p: ParameterStore,
        weightInit: Initializer? = nil, combiner: any AttentionCombiner = WeightedSumCombiner()
    ) {
        precondition(hiddenSize % headCount == 0, "hidden \(hiddenSize) not divisible by \(headCount) heads")
        self.hiddenSize = hiddenSize; self.headCount = headCount; self.combiner = combiner
        query = Dense("\(prefix).self.query", inFeatures: hiddenSize, outFeatures: hiddenSize, in: p, weightInit: weightInit)
        key = Dense("\(prefix).self.key", inFeatures: hiddenSize, outFeatures: hiddenSize, in: p, weightInit: weightInit)
        value = Dense("\(prefix).self.value", inFeatures: hiddenSize, outFeatures: hiddenSize, in: p, weightInit: weightInit)
        output = Dense("\(prefix).output.dense", inFeatures: hiddenSize, outFeatures: hiddenSize, in: p, weightInit: weightInit)
    }

    /// y = attention(x); cache tensors [q, k, A], children [query, key, value, combiner, output].
    public func forward(_ x: Tensor, keyMask: [Float], _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        precondition(x.rank == 3 && x.shape[2] == hiddenSize, "attention expects [B, T, \(hiddenSize)], got \(x.shape)")
        let (b, t, h, nh) = (x.shape[0], x.shape[1], hiddenSize, headCount)
        let d = h / nh
        precondition(keyMask.count == b * t, "key mask has \(keyMask.count) entries for \(b)×\(t)")
        let x2 = x.reshaped([b * t, h])
        let (q, cq) = query.forward(x2, p)
        let (k, ck) = key.forward(x2, p)
        let (v, cv) = value.forward(x2, p)

        var a = Tensor(shape: [b * nh, t, t])
        let scale = 1 / Float(d).squareRoot()
        q.withUnsafeBufferPointer { pq in
            k.withUnsafeBufferPointer { pk in
                a.withUnsafeMutableBufferPointer { pa in
                    let pa = pa.baseAddress!
                    for s in 0..<b {
                        for head in 0..<nh {
                            let off = s * t * h + head * d, g = pa + (s * nh + head) * t * t
                            BLAS.sgemm(
                                transA: false, transB: true, m: t, n: t, k: d, alpha: scale, a: pq.baseAddress! + off, lda: h,
                                b: pk.baseAddress! + off, ldb: h, c: g, ldc: t)
                            for j in 0..<t where keyMask[s * t + j] == 0 {
                                for i in 0..<t { g[i * t + j] = -Float.greatestFiniteMagnitude }
                            }
                        }
                    }
                    ParallelRows.softmax(pa, rows: b * nh * t, width: t)
                }
            }
        }

        let vh = Self.headMajor(v, batch: b, length: t, heads: nh)
        let (o, cc) = combiner.forward(attention: a, values: vh)
        let ctx = Self.tokenMajor(o, batch: b, length: t, heads: nh)
        let (y, co) = output.forward(ctx, p)
        return (y.reshaped(x.shape), LayerCache(tensors: [q, k, a], children: [cq, ck, cv, cc, co]))
    }

    /// Given dL/dy [B, T, H], accumulate parameter gradients and return dL/dx [B, T, H].
    /// The softmax backward dS = A ⊙ (dA − ⟨dA, A⟩_row) is zero on padding keys (A = 0 there).
    public func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor {
        let q = cache.tensors[0], k = cache.tensors[1], a = cache.tensors[2]
        let (bt, h, nh) = (q.shape[0], hiddenSize, headCount)
        let (g, t) = (a.shape[0], a.shape[1])
        let b = g / nh, d = h / nh
        precondition(bt == b * t && dy.count == bt * h, "gradient \(dy.shape) for \(b)×\(t)×\(h)")
        let dctx = output.backward(dy.reshaped([bt, h]), cache.children[4], p)
        let dO = Self.headMajor(dctx, batch: b, length: t, heads: nh)
        let (da, dvh) = combiner.backward(dO, cache.children[3])
        var ds = Tensor(shape: a.shape)
        var dq = Tensor(shape: [bt, h]), dk = Tensor(shape: [bt, h])
        let scale = 1 / Float(d).squareRoot()
        a.withUnsafeBufferPointer { pa in
            da.withUnsafeBufferPointer { pda in
                ds.withUnsafeMutableBufferPointer { pds in
                    ParallelRows.softmaxBackward(output: pa.baseAddress!, pda.baseAddress!, pds.baseAddress!, rows: g * t, width: t)
                }
            }
        }
        ds.withUnsafeBufferPointer { pds in
            q.withUnsafeBufferPointer { pq in
                k.withUnsafeBufferPointer { pk in
                    dq.withUnsafeMutableBufferPointer { pdq in
                        dk.withUnsafeMutableBufferPointer { pdk in
                            for s in 0..<b {
                                for head in 0..<nh {
                                    let off = s * t * h + head * d, gs = pds.baseAddress! + (s * nh + head) * t * t
                                    // dq = scale·dS·k, dk = scale·dSᵀ·q (each head writes its own column block).
                                    BLAS.sgemm(
                                        transA: false, transB: false, m: t, n: d, k: t, alpha: scale, a: gs, lda: t,
                                        b: pk.baseAddress! + off, ldb: h, c: pdq.baseAddress! + off, ldc: h)
                                    BLAS.sgemm(
                                        transA: true, transB: false, m: t, n: d, k: t, alpha: scale, a: gs, lda: t,
                                        b: pq.baseAddress! + off, ldb: h, c: pdk.baseAddress! + off, ldc: h)
                                }
                            }
                        }
                    }
                }
            }
        }
        let dv = Self.tokenMajor(dvh, batch: b, length: t, heads: nh)
        var dx = query.backward(dq, cache.children[0], p)
        dx += key.backward(dk, cache.children[1], p)
        dx += value.backward(dv, cache.children[2], p)
        return dx.reshaped([b, t, h])
    }

    /// [B·T, H] → [B·nh, T, d].
    public static func headMajor(_ x: Tensor, batch b: Int, length t: Int, heads nh: Int) -> Tensor {
        let h = x.count / (b * t), d = h / nh
        var y = Tensor(shape: [b * nh, t, d])
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                for s in 0..<b {
                    for i in 0..<t {
                        for head in 0..<nh {
                            let src = px.baseAddress! + (s * t + i) * h + head * d
                            let dst = py.baseAddress! + ((s * nh + head) * t + i) * d
                            dst.update(from: src, count: d)
                        }
                    }
                }
            }
        }
        return y
    }

    /// [B·nh, T, d] → [B·T, H].
    public static func tokenMajor(_ x: Tensor, batch b: Int, length t: Int, heads nh: Int) -> Tensor {
        let d = x.shape[2], h = nh * d
        var y = Tensor(shape: [b * t, h])
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                for s in 0..<b {
                    for i in 0..<t {
                        for head in 0..<nh {
                            let src = px.baseAddress! + ((s * nh + head) * t + i) * d
                            let dst = py.baseAddress! + (s * t + i) * h + head * d
                            dst.update(from: src, count: d)
                        }
                    }
                }
            }
        }
        return y
    }
}
