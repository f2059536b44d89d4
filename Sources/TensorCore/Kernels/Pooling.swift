// Average pooling, channels-last. x [B, H, W, C]; window k×k, stride s, no padding → [B, OH, OW, C].

/// Average pooling kernels.
public enum AvgPool {
    /// y[b, oy, ox, c] = mean of x over the k×k window at (oy·s, ox·s).
    public static func forward(
        batch b: Int, height h: Int, width w: Int, channels c: Int, window k: Int, stride s: Int,
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>
    ) {
        let oh = (h - k) / s + 1, ow = (w - k) / s + 1, inv = 1 / Float(k * k)
        for n in 0..<b {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let out = y + ((n * oh + oy) * ow + ox) * c
                    out.update(repeating: 0, count: c)
                    for ky in 0..<k {
                        for kx in 0..<k {
                            let src = x + ((n * h + oy * s + ky) * w + ox * s + kx) * c
                            for ch in 0..<c { out[ch] += src[ch] }
                        }
                    }
                    for ch in 0..<c { out[ch] *= inv }
                }
            }
        }
    }

    /// dx (overwritten) = adjoint of `forward` applied to dy.
    public static func backward(
        batch b: Int, height h: Int, width w: Int, channels c: Int, window k: Int, stride s: Int,
        _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>
    ) {
        let oh = (h - k) / s + 1, ow = (w - k) / s + 1, inv = 1 / Float(k * k)
        dx.update(repeating: 0, count: b * h * w * c)
        for n in 0..<b {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let g = dy + ((n * oh + oy) * ow + ox) * c
                    for ky in 0..<k {
                        for kx in 0..<k {
                            let dst = dx + ((n * h + oy * s + ky) * w + ox * s + kx) * c
                            for ch in 0..<c { dst[ch] += g[ch] * inv }
                        }
                    }
                }
            }
        }
    }

    /// Global mean over positions: x [B, P, C] → y [B, C].
    public static func globalForward(
        batch b: Int, positions p: Int, channels c: Int,
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>
    ) {
        let inv = 1 / Float(p)
        for n in 0..<b {
            let out = y + n * c
            out.update(repeating: 0, count: c)
            for q in 0..<p { let src = x + (n * p + q) * c; for ch in 0..<c { out[ch] += src[ch] } }
            for ch in 0..<c { out[ch] *= inv }
        }
    }

    /// dx[b, q, c] = dy[b, c] / P (overwritten).
    public static func globalBackward(
        batch b: Int, positions p: Int, channels c: Int,
        _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>
    ) {
        let inv = 1 / Float(p)
        for n in 0..<b {
            for q in 0..<p {
                let dst = dx + (n * p + q) * c, g = dy + n * c
                for ch in 0..<c { dst[ch] = g[ch] * inv }
            }
        }
    }
}
