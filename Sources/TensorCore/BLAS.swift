// The only file in the project that calls CBLAS (OpenBLAS).
import CBLAS

/// Thin, typed wrappers over OpenBLAS: row-major sgemm/sgemv and thread control.
public enum BLAS {
    /// OpenBLAS's selected kernel family (e.g. "Cooperlake", "Haswell").
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// The kernel family to force (`OPENBLAS_CORETYPE`) when OpenBLAS fell back to its generic SSE3 "Prescott"
    /// kernels on a CPU it does not know (OpenBLAS 0.3.21 on newer Intel models): SkylakeX with AVX-512 F/BW/DQ/VL,
    /// Haswell with AVX2 + FMA; nil when the detection is to be kept.
    /// `cpuFlags` is read only when it is needed (on a recognised CPU, never).
    public static func recognisedCoreType(detected: String, cpuFlags flags: @autoclosure () -> Set<String>) -> String? {
        guard detected == "Prescott" else { return nil }
        let cpuFlags = flags()
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(cpuFlags.contains) { return "SkylakeX" }
        if cpuFlags.contains("avx2") && cpuFlags.contains("fma") { return "Haswell" }
        return nil
    }

    /// OpenBLAS build configuration string.
    public static var configuration: String {
        guard let p = openblas_get_config() else { return "unknown" }
        return String(cString: p)
    }

    /// Threads OpenBLAS uses for one call.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// Set the OpenBLAS thread count (one per MPI rank when ranks fill the cores).
    public static func setThreadCount(_ n: Int) {
        precondition(n >= 1)
        openblas_set_num_threads(Int32(n))
    }

    /// C ← α·op(A)·op(B) + β·C, row-major. op(A) is M×K, op(B) is K×N, C is M×N.
    /// `lda`, `ldb`, `ldc` are the row strides of A, B, C as stored (before op).
    @inlinable
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {  // BLAS leaves C·β; make that explicit so the k = 0 case is defined.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y ← α·op(A)·x + β·y, row-major A of M×N (op(A) = Aᵀ when `trans`).
    @inlinable
    public static func sgemv(
        trans: Bool, m: Int, n: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>,
        beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        if m == 0 || n == 0 { return }
        cblas_sgemv(
            CblasRowMajor, trans ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda),
            x, 1, beta, y, 1)
    }
}
