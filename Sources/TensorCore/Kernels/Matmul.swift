// Matrix products on tensors (row-major), via OpenBLAS sgemm.

extension Tensor {
    /// op(A)·op(B) for 2-D tensors, with op = transpose when the flag is set.
    /// Shapes: op(A) is [M, K], op(B) is [K, N]; result [M, N].
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition(a.rank == 2 && b.rank == 2, "matmul needs 2-D tensors, got \(a.shape) and \(b.shape)")
        let m = transposeA ? a.shape[1] : a.shape[0], ka = transposeA ? a.shape[0] : a.shape[1]
        let kb = transposeB ? b.shape[1] : b.shape[0], n = transposeB ? b.shape[0] : b.shape[1]
        precondition(ka == kb, "matmul inner sizes differ: \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "")")
        var c = Tensor(shape: [m, n])
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    BLAS.sgemm(
                        transA: transposeA, transB: transposeB, m: m, n: n, k: ka,
                        a: pa.baseAddress!, lda: a.shape[1], b: pb.baseAddress!, ldb: b.shape[1],
                        c: pc.baseAddress!, ldc: n)
                }
            }
        }
        return c
    }
}
