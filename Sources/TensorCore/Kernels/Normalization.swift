// GroupNorm and LayerNorm, forward and backward, on raw buffers.
//
// Names: B batch, P positions per sample (H·W; 1 for plain vectors), C channels, G groups, Cg = C/G,
// N = P·Cg elements per (sample, group). Channels-last: x[b, q, c] at (b·P + q)·C + c.
// LayerNorm: R rows of length D, x[r, j] at r·D + j.
//
// Forward saves per-group (or per-row) mean μ and inverse std ρ = 1/√(σ² + ε) for the backward:
//   x̂ = (x − μ)·ρ,  y = γ·x̂ + β
//   dβ += Σ dy,  dγ += Σ dy·x̂,  dx = ρ·(g − mean(g) − x̂·mean(g·x̂))  with g = γ·dy, means over the N elements.

/// Group normalisation over channels-last activations.
public enum GroupNorm {
    /// y = GN(x), or the fused y = ReLU(GN(x) + a₁ + a₂) when addends / `relu` are given (a DEQ block's
    /// residual sum in the normalisation's last pass). x, y, a₁, a₂: [B, P, C]; gamma, beta: [C]; mean, rstd:
    /// [B, G] (of GN(x) alone, saved for backward).
    /// Statistics are accumulated per channel over positions (contiguous, vectorised), then summed per group;
    /// the variance is two-pass (about the mean) for accuracy.
    public static func forward(
        batch b: Int, positions p: Int, channels c: Int, groups gN: Int, epsilon: Float,
        x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
        y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
        rstd: UnsafeMutablePointer<Float>,
        adding a1: UnsafePointer<Float>? = nil, _ a2: UnsafePointer<Float>? = nil,
        relu: Bool = false
    ) {
        precondition(c % gN == 0, "channels \(c) not divisible by groups \(gN)")
        precondition(a2 == nil || a1 != nil, "GroupNorm.forward: the second addend needs the first")
        let cg = c / gN, n = Float(p * cg)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 3 * c)
        defer { scratch.deallocate() }
        let acc = scratch, scale = scratch + c, shift = scratch + 2 * c
        for s in 0..<b {
            let xs = x + s * p * c, ys = y + s * p * c
            // Pass 1: per-channel sums → group means (kept per channel in `scale` until pass 2 is done).
            acc.update(repeating: 0, count: c)
            for q in 0..<p { let row = xs + q * c; for ch in 0..<c { acc[ch] += row[ch] } }
            for g in 0..<gN {
                var sum: Float = 0
                for j in 0..<cg { sum += acc[g * cg + j] }
                let mu = sum / n
                mean[s * gN + g] = mu
                for j in 0..<cg { scale[g * cg + j] = mu }
            }
            // Pass 2: per-channel sums of squared deviations → group variances.
            acc.update(repeating: 0, count: c)
            for q in 0..<p {
                let row = xs + q * c
                for ch in 0..<c { let d = row[ch] - scale[ch]; acc[ch] += d * d }
            }
            for g in 0..<gN {
                var sq: Float = 0
                for j in 0..<cg { sq += acc[g * cg + j] }
                let r = 1 / (sq / n + epsilon).squareRoot()
                rstd[s * gN + g] = r
                let mu = mean[s * gN + g]
                for j in 0..<cg { let ch = g * cg + j; scale[ch] = gamma[ch] * r; shift[ch] = beta[ch] - mu * r * gamma[ch] }
            }
            // Pass 3: y = γ·x̂ + β (+ addends) (then ReLU).
            for q in 0..<p {
                let off = s * p * c + q * c
                let xr = x + off, yr = ys + q * c
                if let a1 {
                    let r1 = a1 + off
                    if let a2 {
                        let r2 = a2 + off
                        if relu {
                            for ch in 0..<c { yr[ch] = max(xr[ch] * scale[ch] + shift[ch] + r1[ch] + r2[ch], 0) }
                        } else {
                            for ch in 0..<c { yr[ch] = xr[ch] * scale[ch] + shift[ch] + r1[ch] + r2[ch] }
                        }
                    } else if relu {
                        for ch in 0..<c { yr[ch] = max(xr[ch] * scale[ch] + shift[ch] + r1[ch], 0) }
                    } else {
                        for ch in 0..<c { yr[ch] = xr[ch] * scale[ch] + shift[ch] + r1[ch] }
                    }
                } else if relu {
                    for ch in 0..<c { yr[ch] = max(xr[ch] * scale[ch] + shift[ch], 0) }
                } else {
                    for ch in 0..<c { yr[ch] = xr[ch] * scale[ch] + shift[ch] }
                }
            }
        }
    }

    /// Backward of `forward`: dx (overwritten, may alias dy), dgamma/dbeta accumulated.
    public static func backward(
        batch b: Int, positions p: Int, channels c: Int, groups gN: Int,
        x: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        gradOutput dy: UnsafePointer<Float>, gradInput dx: UnsafeMutablePointer<Float>,
        gradGamma: UnsafeMutablePointer<Float>?, gradBeta: UnsafeMutablePointer<Float>?
    ) {
        let cg = c / gN, n = Float(p * cg)
        var sg = [Float](repeating: 0, count: gN), sgx = [Float](repeating: 0, count: gN)
        for s in 0..<b {
            let xs = x + s * p * c, dys = dy + s * p * c, dxs = dx + s * p * c
            for g in 0..<gN { sg[g] = 0; sgx[g] = 0 }
            for q in 0..<p {
                let xr = xs + q * c, dr = dys + q * c
                for g in 0..<gN {
                    let mu = mean[s * gN + g], r = rstd[s * gN + g]
                    var a: Float = 0, bb: Float = 0
                    for j in 0..<cg {
                        let ch = g * cg + j
                        let xh = (xr[ch] - mu) * r, d = dr[ch]
                        gradGamma?[ch] += d * xh
                        gradBeta?[ch] += d
                        let gv = d * gamma[ch]
                        a += gv; bb += gv * xh
                    }
                    sg[g] += a; sgx[g] += bb
                }
            }
            for g in 0..<gN { sg[g] /= n; sgx[g] /= n }
            for q in 0..<p {
                let xr = xs + q * c, dr = dys + q * c, out = dxs + q * c
                for g in 0..<gN {
                    let mu = mean[s * gN + g], r = rstd[s * gN + g], mg = sg[g], mgx = sgx[g]
                    for j in 0..<cg {
                        let ch = g * cg + j
                        let xh = (xr[ch] - mu) * r
                        out[ch] = r * (dr[ch] * gamma[ch] - mg - xh * mgx)
                    }
                }
            }
        }
    }
}

/// Layer normalisation over the last axis.
public enum LayerNorm {
    /// y = LN(x) row-wise. x, y: [R, D]; gamma, beta: [D]; mean, rstd: [R].
    public static func forward(
        rows r: Int, width d: Int, epsilon: Float,
        x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
        y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
        rstd: UnsafeMutablePointer<Float>
    ) {
        for i in 0..<r {
            let xr = x + i * d, yr = y + i * d
            var s: Float = 0
            for j in 0..<d { s += xr[j] }
            let mu = s / Float(d)
            var v: Float = 0
            for j in 0..<d { let t = xr[j] - mu; v += t * t }
            let rs = 1 / (v / Float(d) + epsilon).squareRoot()
            mean[i] = mu; rstd[i] = rs
            for j in 0..<d { yr[j] = (xr[j] - mu) * rs * gamma[j] + beta[j] }
        }
    }

    /// Backward of `forward`: dx (overwritten, may alias dy), dgamma/dbeta accumulated.
    public static func backward(
        rows r: Int, width d: Int, x: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        gradOutput dy: UnsafePointer<Float>, gradInput dx: UnsafeMutablePointer<Float>,
        gradGamma: UnsafeMutablePointer<Float>?, gradBeta: UnsafeMutablePointer<Float>?
    ) {
        for i in 0..<r {
            let xr = x + i * d, dr = dy + i * d, out = dx + i * d
            let mu = mean[i], rs = rstd[i]
            var mg: Float = 0, mgx: Float = 0
            for j in 0..<d {
                let xh = (xr[j] - mu) * rs, gv = dr[j] * gamma[j]
                gradGamma?[j] += dr[j] * xh
                gradBeta?[j] += dr[j]
                mg += gv; mgx += gv * xh
            }
            mg /= Float(d); mgx /= Float(d)
            for j in 0..<d {
                let xh = (xr[j] - mu) * rs
                out[j] = rs * (dr[j] * gamma[j] - mg - xh * mgx)
            }
        }
    }
}
