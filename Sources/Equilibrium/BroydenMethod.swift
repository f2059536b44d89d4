import TensorCore

/// Broyden's "good" method on g(z) = f(z) − z without line search, per sample, as the `broyden` solver of
/// locuslab/deq and torchdeq (`ls = False`).
///
/// Keeps Jg⁻¹ ≈ B = −I + Σⱼ uⱼvⱼᵀ (low rank, per sample). Start: z₀ = z0, g₀ = g(z₀) (1 evaluation), update = −B g₀
/// = g₀. Step k = 1…T: z_k = z_{k−1} + update, g_k = g(z_k) (1 evaluation); then with Δz = z_k − z_{k−1},
/// Δg = g_k − g_{k−1}: vᵀ = Δzᵀ B, u = (Δz − B Δg) / (vᵀΔg) (Sherman–Morrison form of the good Broyden update
/// of the Jacobian), B ← B + u vᵀ, update = −B g_k. T steps cost T + 1 evaluations. If vᵀΔg is 0 or not finite the
/// rank-one term is skipped for that sample (the published code zeroes NaNs the same way).
///
/// Returns f(z_T) = z_T + g(z_T), the output of the last evaluation (the same rule as the other solvers), or with
/// `returnLowestResidual` f at the lowest-residual iterate. Step 1 is z₁ = f(z0), so Broyden-1 returns f(f(z0)).
/// Memory: 2·T vectors of D floats per sample. Dot products accumulate in Double; the rank-one corrections
/// (axpy with a Float coefficient) in Float.
enum BroydenMethod {
    static func solve(
        _ f: (Tensor) throws -> Tensor,
        initial z0: Tensor,
        config: SolverConfig
    ) rethrows -> (z: Tensor, stats: SolverStats) {
        let batch = z0.shape[0]
        let dim = z0.count / batch
        let capacity = config.maxSteps
        var tracker = SolverSampleTracker(batch: batch, dim: dim, config: config)

        var x = z0
        var fx = try evaluateChecked(f, x)
        tracker.record(input: x, output: fx, step: 0)
        // Per-sample state: g, the pending update, and the low-rank factors [B][T][D].
        var g = [Float](repeating: 0, count: batch * dim)
        var update = [Float](repeating: 0, count: batch * dim)
        var us = [Float](repeating: 0, count: batch * capacity * dim)
        var vs = [Float](repeating: 0, count: batch * capacity * dim)
        var ranks = [Int](repeating: 0, count: batch)
        for k in 0..<(batch * dim) {
            g[k] = fx.scalars[k] - x.scalars[k]
            update[k] = g[k]
        }
        var dz = [Float](repeating: 0, count: dim)
        var dg = [Float](repeating: 0, count: dim)

        for step in 1...config.maxSteps {
            if tracker.allFrozen { break }
            x.withUnsafeMutableBufferPointer { xp in
                for i in 0..<batch {
                    if tracker.running[i] {
                        for j in (i * dim)..<((i + 1) * dim) { xp[j] += update[j] }
                    } else {
                        tracker.feedFrozen(i, into: xp)
                    }
                }
            }
            fx = try evaluateChecked(f, x)
            tracker.record(input: x, output: fx, step: step)
            if step == config.maxSteps || tracker.allFrozen { break }

            x.withUnsafeBufferPointer { xp in
                fx.withUnsafeBufferPointer { fp in
                    us.withUnsafeMutableBufferPointer { U in
                        vs.withUnsafeMutableBufferPointer { V in
                            for i in 0..<batch where tracker.running[i] {
                                let base = i * dim
                                for j in 0..<dim {
                                    let gNew = fp[base + j] - xp[base + j]
                                    dz[j] = update[base + j]
                                    dg[j] = gNew - g[base + j]
                                    g[base + j] = gNew
                                }
                                let r = ranks[i]
                                let U0 = U.baseAddress! + i * capacity * dim
                                let V0 = V.baseAddress! + i * capacity * dim
                                let uNew = U0 + r * dim, vNew = V0 + r * dim
                                dz.withUnsafeMutableBufferPointer { dzp in
                                    dg.withUnsafeMutableBufferPointer { dgp in
                                        g.withUnsafeMutableBufferPointer { gp in
                                            update.withUnsafeMutableBufferPointer { up in
                                                let dzr = dzp.baseAddress!, dgr = dgp.baseAddress!
                                                let gr = gp.baseAddress! + base, ur = up.baseAddress! + base
                                                // vᵀ = Δzᵀ B = −Δz + Σₜ (uₜᵀΔz) vₜ
                                                for j in 0..<dim { vNew[j] = -dzr[j] }
                                                for t in 0..<r {
                                                    let c = Float(dotDouble(U0 + t * dim, dzr, dim))
                                                    let vt = V0 + t * dim
                                                    for j in 0..<dim { vNew[j] += c * vt[j] }
                                                }
                                                // u = (Δz − B Δg) / (vᵀΔg), B Δg = −Δg + Σₜ (vₜᵀΔg) uₜ
                                                let denominator = dotDouble(vNew, dgr, dim)
                                                if denominator != 0 && denominator.isFinite {
                                                    for j in 0..<dim { uNew[j] = dzr[j] + dgr[j] }
                                                    for t in 0..<r {
                                                        let c = Float(dotDouble(V0 + t * dim, dgr, dim))
                                                        let ut = U0 + t * dim
                                                        for j in 0..<dim { uNew[j] -= c * ut[j] }
                                                    }
                                                    let scale = Float(1 / denominator)
                                                    var finite = scale.isFinite
                                                    for j in 0..<dim {
                                                        uNew[j] *= scale
                                                        if !uNew[j].isFinite { finite = false }
                                                    }
                                                    if finite { ranks[i] = r + 1 }
                                                }
                                                // update = −B g = g − Σₜ (vₜᵀg) uₜ
                                                for j in 0..<dim { ur[j] = gr[j] }
                                                for t in 0..<ranks[i] {
                                                    let c = Float(dotDouble(V0 + t * dim, gr, dim))
                                                    let ut = U0 + t * dim
                                                    for j in 0..<dim { ur[j] -= c * ut[j] }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return tracker.finish(shape: z0.shape, kind: .broyden)
    }
}
