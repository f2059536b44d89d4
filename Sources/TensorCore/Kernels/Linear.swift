// Fully connected layer on raw buffers: y[N, O] = x[N, I]·Wᵀ + b with W [O, I] (PyTorch layout).

/// Affine map kernels.
public enum LinearKernel {
    /// y = x·Wᵀ + b. x [N, I], W [O, I], b [O] (optional), y [N, O].
    public static func forward(
        rows n: Int, inFeatures i: Int, outFeatures o: Int, x: UnsafePointer<Float>,
        weight w: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>
    ) {
        BLAS.sgemm(transA: false, transB: true, m: n, n: o, k: i, a: x, lda: i, b: w, ldb: i, c: y, ldc: o)
        if let bias { for r in 0..<n { let row = y + r * o; for j in 0..<o { row[j] += bias[j] } } }
    }

    /// dx = dy·W (overwritten), dW += dyᵀ·x, db += Σ_rows dy. Any output may be nil.
    public static func backward(
        rows n: Int, inFeatures i: Int, outFeatures o: Int, x: UnsafePointer<Float>,
        weight w: UnsafePointer<Float>, gradOutput dy: UnsafePointer<Float>,
        gradInput dx: UnsafeMutablePointer<Float>?, gradWeight dw: UnsafeMutablePointer<Float>?,
        gradBias db: UnsafeMutablePointer<Float>?
    ) {
        if let dx { BLAS.sgemm(transA: false, transB: false, m: n, n: i, k: o, a: dy, lda: o, b: w, ldb: i, c: dx, ldc: i) }
        if let dw { BLAS.sgemm(transA: true, transB: false, m: o, n: i, k: n, a: dy, lda: o, b: x, ldb: i, beta: 1, c: dw, ldc: i) }
        if let db { for r in 0..<n { let row = dy + r * o; for j in 0..<o { db[j] += row[j] } } }
    }
}
