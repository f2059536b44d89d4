import NeuralNet
import TensorCore

/// The step of attention that combines values with attention weights, per (sequence, head) group g:
/// O[g] = combine(A[g], V[g]). The plain rule is the weighted sum O = A·V; a robust rule (e.g. a reweighted
/// M-estimator of the values) replaces it per layer without touching the rest of the encoder.
///
/// Shapes: A [G, T, T] (row i holds query i's weights over keys; rows sum to 1, padding keys have weight 0),
/// V [G, T, d], O [G, T, d], with G = B·heads.
public protocol AttentionCombiner: Sendable {
    /// O = combine(A, V); the cache holds what `backward` needs.
    func forward(attention: Tensor, values: Tensor) -> (output: Tensor, cache: LayerCache)
    /// Given dL/dO, return (dL/dA, dL/dV) with the shapes of A and V.
    func backward(_ gradOutput: Tensor, _ cache: LayerCache) -> (attention: Tensor, values: Tensor)
}

/// The standard rule O[g] = A[g]·V[g] (one sgemm per group).
public struct WeightedSumCombiner: AttentionCombiner {
    public init() {}

    public func forward(attention a: Tensor, values v: Tensor) -> (output: Tensor, cache: LayerCache) {
        precondition(
            a.rank == 3 && v.rank == 3 && a.shape[0] == v.shape[0] && a.shape[1] == a.shape[2]
                && a.shape[2] == v.shape[1], "A \(a.shape), V \(v.shape)")
        let (g, t, d) = (v.shape[0], v.shape[1], v.shape[2])
        var o = Tensor(shape: [g, t, d])
        a.withUnsafeBufferPointer { pa in
            v.withUnsafeBufferPointer { pv in
                o.withUnsafeMutableBufferPointer { po in
                    for i in 0..<g {
                        BLAS.sgemm(
                            transA: false, transB: false, m: t, n: d, k: t, a: pa.baseAddress! + i * t * t, lda: t,
                            b: pv.baseAddress! + i * t * d, ldb: d, c: po.baseAddress! + i * t * d, ldc: d)
                    }
                }
            }
        }
        return (o, LayerCache(tensors: [a, v]))
    }

    /// dA = dO·Vᵀ, dV = Aᵀ·dO per group.
    public func backward(_ dO: Tensor, _ cache: LayerCache) -> (attention: Tensor, values: Tensor) {
        let a = cache.tensors[0], v = cache.tensors[1]
        let (g, t, d) = (v.shape[0], v.shape[1], v.shape[2])
        var da = Tensor(shape: a.shape), dv = Tensor(shape: v.shape)
        a.withUnsafeBufferPointer { pa in
            v.withUnsafeBufferPointer { pv in
                dO.withUnsafeBufferPointer { pdo in
                    da.withUnsafeMutableBufferPointer { pda in
                        dv.withUnsafeMutableBufferPointer { pdv in
                            for i in 0..<g {
                                BLAS.sgemm(
                                    transA: false, transB: true, m: t, n: t, k: d, a: pdo.baseAddress! + i * t * d, lda: d,
                                    b: pv.baseAddress! + i * t * d, ldb: d, c: pda.baseAddress! + i * t * t, ldc: t)
                                BLAS.sgemm(
                                    transA: true, transB: false, m: t, n: d, k: t, a: pa.baseAddress! + i * t * t, lda: t,
                                    b: pdo.baseAddress! + i * t * d, ldb: d, c: pdv.baseAddress! + i * t * d, ldc: d)
                            }
                        }
                    }
                }
            }
        }
        return (da, dv)
    }
}
