import NeuralNet
import TensorCore
import Transformers

/// ProTransformer's robust attention: A·V replaced, per (sequence, head) group, by K steps of iteratively
/// reweighted least squares of a robust penalty (docs/models.md §3):
///
///     Z⁽⁰⁾ = A·V
///     repeat K times:  D_ij = ‖Z_i − V_j‖₂,  W_ij = w(D_ij),  Â = rownormalize_L1(W ⊙ A),  Z ← (1 − t)·Z + t·Â·V
///
/// Shapes: A [G, T, T] (rows sum to 1; padding keys have weight 0 and keep it, since W ⊙ A = 0 there),
/// V [G, T, d], output [G, T, d]. Distances come from one GEMM per step: D² = ‖Z_i‖² + ‖V_j‖² − 2·Z_i·V_j.
///
/// Backward (`gradient = .full`): the exact gradient through every step, the reweighting included:
///     dY = t·G,  dÂ = dY·Vᵀ,  dV += Âᵀ·dY,  dM_ij = (dÂ_ij − Σ_l dÂ_il Â_il)/s_i  (M = W ⊙ A, s_i = Σ_j M_ij)
///     dA += dM ⊙ W,  dD = (dM ⊙ A) ⊙ w'(D),  E = dD / D,
///     dZ = (1 − t)·G + rowsum(E) ⊙ Z − E·V,   dV += colsum(E) ⊙ V − Eᵀ·Z
/// and finally dA += G₀·Vᵀ, dV += Aᵀ·G₀ for Z⁽⁰⁾ = A·V. `.detached` drops the dD path (weights treated as
/// constants, as the first release computed distances on detached tensors): a white-box attack must report both.
/// Only Z of each step is cached; D, W and Â are recomputed in the backward (memory K·T·d instead of 3K·T²).
public struct RobustCombiner: AttentionCombiner {
    public enum Gradient: String, Sendable, CaseIterable { case full, detached }

    public let penalty: RobustPenalty
    /// K, the IRLS steps (0 = plain attention).
    public let steps: Int
    /// ε of the weights.
    public let epsilon: Float
    /// t, the step size of the update.
    public let stepSize: Float
    public let gradient: Gradient

    public init(
        penalty: RobustPenalty, steps: Int = 3, epsilon: Float = 1e-2, stepSize: Float = 1,
        gradient: Gradient = .full
    ) throws(RobustAttentionError) {
        try penalty.validate()
        guard steps >= 0 else { throw .invalidParameter(name: "irls-steps", value: "\(steps)", reason: "must be ≥ 0") }
        guard epsilon > 0, epsilon.isFinite else { throw .invalidParameter(name: "epsilon", value: "\(epsilon)", reason: "must be > 0") }
        guard stepSize > 0, stepSize <= 1 else { throw .invalidParameter(name: "step-size", value: "\(stepSize)", reason: "must be in (0, 1]") }
        self.penalty = penalty; self.steps = steps; self.epsilon = epsilon; self.stepSize = stepSize; self.gradient = gradient
    }

    public func forward(attention a: Tensor, values v: Tensor) -> (output: Tensor, cache: LayerCache) {
        precondition(
            a.rank == 3 && v.rank == 3 && a.shape[0] == v.shape[0] && a.shape[1] == a.shape[2]
                && a.shape[2] == v.shape[1], "A \(a.shape), V \(v.shape)")
        let (g, t, d) = (v.shape[0], v.shape[1], v.shape[2])
        var z = Tensor(shape: [g, t, d])
        var iterates: [Tensor] = []
        let work = GroupWorkspace(t: t, d: d)
        a.withUnsafeBufferPointer { pa in
            v.withUnsafeBufferPointer { pv in
                z.withUnsafeMutableBufferPointer { pz in
                    for i in 0..<g {
                        BLAS.sgemm(
                            transA: false, transB: false, m: t, n: d, k: t, a: pa.baseAddress! + i * t * t, lda: t,
                            b: pv.baseAddress! + i * t * d, ldb: d, c: pz.baseAddress! + i * t * d, ldc: d)
                    }
                }
            }
        }
        for _ in 0..<steps {
            iterates.append(z)
            var next = z
            a.withUnsafeBufferPointer { pa in
                v.withUnsafeBufferPointer { pv in
                    z.withUnsafeBufferPointer { pz in
                        next.withUnsafeMutableBufferPointer { pn in
                            for i in 0..<g {
                                let ga = pa.baseAddress! + i * t * t, gv = pv.baseAddress! + i * t * d
                                let gz = pz.baseAddress! + i * t * d, gn = pn.baseAddress! + i * t * d
                                reweight(a: ga, v: gv, z: gz, t: t, d: d, work: work)
                                // next = (1 − t)·z + t·Â·V
                                BLAS.sgemm(
                                    transA: false, transB: false, m: t, n: d, k: t, alpha: stepSize, a: work.aHat, lda: t,
                                    b: gv, ldb: d, beta: 1 - stepSize, c: gn, ldc: d)
                            }
                        }
                    }
                }
            }
            z = next
        }
        return (z, LayerCache(tensors: [a, v] + iterates))
    }

    public func backward(_ gradOutput: Tensor, _ cache: LayerCache) -> (attention: Tensor, values: Tensor) {
        let a = cache.tensors[0], v = cache.tensors[1], iterates = Array(cache.tensors.dropFirst(2))
        let (g, t, d) = (v.shape[0], v.shape[1], v.shape[2])
        var da = Tensor(shape: a.shape), dv = Tensor(shape: v.shape)
        let work = GroupWorkspace(t: t, d: d)
        var gz = [Float](repeating: 0, count: t * d), gzPrev = [Float](repeating: 0, count: t * d)
        a.withUnsafeBufferPointer { pa in
            v.withUnsafeBufferPointer { pv in
                gradOutput.withUnsafeBufferPointer { pg in
                    da.withUnsafeMutableBufferPointer { pda in
                        dv.withUnsafeMutableBufferPointer { pdv in
                            for i in 0..<g {
                                let ga = pa.baseAddress! + i * t * t, gv = pv.baseAddress! + i * t * d
                                let gda = pda.baseAddress! + i * t * t, gdv = pdv.baseAddress! + i * t * d
                                for k in 0..<(t * d) { gz[k] = pg[i * t * d + k] }
                                for step in (0..<iterates.count).reversed() {
                                    iterates[step].withUnsafeBufferPointer { pz in
                                        let z = pz.baseAddress! + i * t * d
                                        reweight(a: ga, v: gv, z: z, t: t, d: d, work: work)
                                        backwardStep(a: ga, v: gv, z: z, t: t, d: d, gz: &gz, gzPrev: &gzPrev, da: gda, dv: gdv, work: work)
                                    }
                                    swap(&gz, &gzPrev)
                                }
                                // Z⁽⁰⁾ = A·V: dA += G·Vᵀ, dV += Aᵀ·G.
                                gz.withUnsafeBufferPointer { g0 in
                                    BLAS.sgemm(
                                        transA: false, transB: true, m: t, n: t, k: d, a: g0.baseAddress!, lda: d, b: gv, ldb: d,
                                        beta: 1, c: gda, ldc: t)
                                    BLAS.sgemm(
                                        transA: true, transB: false, m: t, n: d, k: t, a: ga, lda: t, b: g0.baseAddress!, ldb: d,
                                        beta: 1, c: gdv, ldc: d)
                                }
                            }
                        }
                    }
                }
            }
        }
        return (da, dv)
    }

    /// Scratch of one group: distances D, weights W, Â, a T×T scratch, row sums s, squared norms of Z and V rows.
    final class GroupWorkspace {
        let distance: UnsafeMutablePointer<Float>, weight: UnsafeMutablePointer<Float>, aHat: UnsafeMutablePointer<Float>
        let scratch: UnsafeMutablePointer<Float>
        var rowSum: [Float], zNorm: [Float], vNorm: [Float]
        private let base: UnsafeMutablePointer<Float>
        init(t: Int, d: Int) {
            base = .allocate(capacity: 4 * t * t)
            base.initialize(repeating: 0, count: 4 * t * t)
            distance = base; weight = base + t * t; aHat = base + 2 * t * t; scratch = base + 3 * t * t
            rowSum = [Float](repeating: 0, count: t); zNorm = [Float](repeating: 0, count: t); vNorm = [Float](repeating: 0, count: t)
        }
        deinit { base.deallocate() }
    }

    /// D, W and Â (with row sums s) of one group at iterate z.
    func reweight(
        a: UnsafePointer<Float>, v: UnsafePointer<Float>, z: UnsafePointer<Float>, t: Int, d: Int,
        work: GroupWorkspace
    ) {
        for i in 0..<t {
            var zn: Float = 0, vn: Float = 0
            for c in 0..<d { zn += z[i * d + c] * z[i * d + c]; vn += v[i * d + c] * v[i * d + c] }
            work.zNorm[i] = zn; work.vNorm[i] = vn
        }
        // distance ← Z·Vᵀ, then D_ij = √max(‖z_i‖² + ‖v_j‖² − 2 z_i·v_j, 0).
        BLAS.sgemm(transA: false, transB: true, m: t, n: t, k: d, a: z, lda: d, b: v, ldb: d, c: work.distance, ldc: t)
        let e = epsilon
        for i in 0..<t {
            var s: Float = 0
            let zn = work.zNorm[i]
            for j in 0..<t {
                let r = (Swift.max(zn + work.vNorm[j] - 2 * work.distance[i * t + j], 0)).squareRoot()
                work.distance[i * t + j] = r
                let w = penalty.weight(r, epsilon: e)
                work.weight[i * t + j] = w
                let m = w * a[i * t + j]
                work.aHat[i * t + j] = m
                s += m
            }
            work.rowSum[i] = s
            if s > 0 {
                let inv = 1 / s
                for j in 0..<t { work.aHat[i * t + j] *= inv }
            } else {
                for j in 0..<t { work.aHat[i * t + j] = a[i * t + j] }  // an all-zero row (no keys): keep A
            }
        }
    }

    /// One IRLS step backward: given gz = dL/dZ_next (and D, W, Â of z in `work`), adds to dA and dV and writes
    /// dL/dz into gzPrev.
    func backwardStep(
        a: UnsafePointer<Float>, v: UnsafePointer<Float>, z: UnsafePointer<Float>, t: Int, d: Int,
        gz: inout [Float], gzPrev: inout [Float], da: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        work: GroupWorkspace
    ) {
        let step = stepSize, e = epsilon
        gz.withUnsafeMutableBufferPointer { pgz in
            gzPrev.withUnsafeMutableBufferPointer { pprev in
                let gzp = pgz.baseAddress!, prev = pprev.baseAddress!
                for k in 0..<(t * d) { prev[k] = (1 - step) * gzp[k] }
                // dÂ = t·G·Vᵀ (into scratch); dV += t·Âᵀ·G.
                BLAS.sgemm(
                    transA: false, transB: true, m: t, n: t, k: d, alpha: step, a: gzp, lda: d, b: v, ldb: d,
                    c: work.scratch, ldc: t)
                BLAS.sgemm(
                    transA: true, transB: false, m: t, n: d, k: t, alpha: step, a: work.aHat, lda: t, b: gzp, ldb: d,
                    beta: 1, c: dv, ldc: d)
                // dM_ij = (dÂ_ij − Σ_l dÂ_il Â_il)/s_i; dA += dM ⊙ W; E_ij = dM_ij A_ij w'(D_ij) / D_ij (scratch ← E).
                for i in 0..<t {
                    let s = work.rowSum[i]
                    guard s > 0 else {
                        for j in 0..<t { da[i * t + j] += work.scratch[i * t + j]; work.scratch[i * t + j] = 0 }
                        continue
                    }
                    var dot: Float = 0
                    for j in 0..<t { dot += work.scratch[i * t + j] * work.aHat[i * t + j] }
                    let inv = 1 / s
                    for j in 0..<t {
                        let dm = (work.scratch[i * t + j] - dot) * inv
                        da[i * t + j] += dm * work.weight[i * t + j]
                        var eij: Float = 0
                        if gradient == .full {
                            let r = work.distance[i * t + j]
                            if r > 1e-12 { eij = dm * a[i * t + j] * penalty.weightDerivative(r, epsilon: e) / r }
                        }
                        work.scratch[i * t + j] = eij
                    }
                }
                guard gradient == .full else { return }
                // dZ += rowsum(E) ⊙ Z − E·V;  dV += colsum(E) ⊙ V − Eᵀ·Z.
                for i in 0..<t {
                    var rs: Float = 0
                    for j in 0..<t { rs += work.scratch[i * t + j] }
                    for c in 0..<d { prev[i * d + c] += rs * z[i * d + c] }
                }
                for j in 0..<t {
                    var cs: Float = 0
                    for i in 0..<t { cs += work.scratch[i * t + j] }
                    for c in 0..<d { dv[j * d + c] += cs * v[j * d + c] }
                }
                BLAS.sgemm(
                    transA: false, transB: false, m: t, n: d, k: t, alpha: -1, a: work.scratch, lda: t, b: v, ldb: d,
                    beta: 1, c: prev, ldc: d)
                BLAS.sgemm(
                    transA: true, transB: false, m: t, n: d, k: t, alpha: -1, a: work.scratch, lda: t, b: z, ldb: d,
                    beta: 1, c: dv, ldc: d)
            }
        }
    }
}
