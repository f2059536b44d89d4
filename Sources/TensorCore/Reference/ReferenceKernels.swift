// Naive reference twins of the fast kernels: straightforward loops with Double accumulation.
// They define what the fast kernels must compute; tests hold the fast ones to these.
// Shapes follow the fast kernels' conventions (channels-last images, PyTorch-layout weights).

import Foundation

/// Naive reference implementations (slow, obviously correct).
public enum Reference {
    /// C = op(A)·op(B); A stored [rows, cols] row-major.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool) -> Tensor {
        let m = transposeA ? a.shape[1] : a.shape[0], k = transposeA ? a.shape[0] : a.shape[1]
        let n = transposeB ? b.shape[0] : b.shape[1]
        var c = Tensor(shape: [m, n])
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for l in 0..<k {
                    let av = transposeA ? a.scalars[l * a.shape[1] + i] : a.scalars[i * a.shape[1] + l]
                    let bv = transposeB ? b.scalars[j * b.shape[1] + l] : b.scalars[l * b.shape[1] + j]
                    s += Double(av) * Double(bv)
                }
                c.scalars[i * n + j] = Float(s)
            }
        }
        return c
    }

    /// Direct convolution. x [B, H, W, Ci], w [Co, Ci, KH, KW], bias [Co] → [B, OH, OW, Co].
    public static func conv2d(_ x: Tensor, weight w: Tensor, bias: Tensor?, stride s: Int, padding p: Int) -> Tensor {
        let (bn, h, wd, ci) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (co, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        let oh = (h + 2 * p - kh) / s + 1, ow = (wd + 2 * p - kw) / s + 1
        var y = Tensor(shape: [bn, oh, ow, co])
        for b in 0..<bn {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    for o in 0..<co {
                        var acc = Double(bias?.scalars[o] ?? 0)
                        for c in 0..<ci {
                            for ky in 0..<kh {
                                for kx in 0..<kw {
                                    let iy = oy * s - p + ky, ix = ox * s - p + kx
                                    if iy < 0 || iy >= h || ix < 0 || ix >= wd { continue }
                                    acc +=
                                        Double(x.scalars[((b * h + iy) * wd + ix) * ci + c]) * Double(w.scalars[((o * ci + c) * kh + ky) * kw + kx])
                                }
                            }
                        }
                        y.scalars[((b * oh + oy) * ow + ox) * co + o] = Float(acc)
                    }
                }
            }
        }
        return y
    }

    /// Gradients of `conv2d` for upstream gradient dy [B, OH, OW, Co]: (dx, dw, db).
    public static func conv2dBackward(
        _ x: Tensor, weight w: Tensor, gradOutput dy: Tensor, stride s: Int, padding p: Int
    )
        -> (dx: Tensor, dw: Tensor, db: Tensor)
    {
        let (bn, h, wd, ci) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (co, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        let oh = dy.shape[1], ow = dy.shape[2]
        var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: w.count)
        var db = [Double](repeating: 0, count: co)
        for b in 0..<bn {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    for o in 0..<co {
                        let g = Double(dy.scalars[((b * oh + oy) * ow + ox) * co + o])
                        db[o] += g
                        for c in 0..<ci {
                            for ky in 0..<kh {
                                for kx in 0..<kw {
                                    let iy = oy * s - p + ky, ix = ox * s - p + kx
                                    if iy < 0 || iy >= h || ix < 0 || ix >= wd { continue }
                                    let xi = ((b * h + iy) * wd + ix) * ci + c, wi = ((o * ci + c) * kh + ky) * kw + kx
                                    dx[xi] += g * Double(w.scalars[wi])
                                    dw[wi] += g * Double(x.scalars[xi])
                                }
                            }
                        }
                    }
                }
            }
        }
        return (
            Tensor(shape: x.shape, scalars: dx.map(Float.init)), Tensor(shape: w.shape, scalars: dw.map(Float.init)),
            Tensor(shape: [co], scalars: db.map(Float.init))
        )
    }

    /// GroupNorm over channels-last x [B, P, C] (P = positions) with G groups: y = (x − μ)/√(σ² + ε)·γ + β.
    public static func groupNorm(_ x: Tensor, groups gN: Int, gamma: Tensor, beta: Tensor, epsilon: Float) -> Tensor {
        let b = x.shape[0], c = x.shape.last!, pos = x.count / (b * c), cg = c / gN
        var y = x
        for n in 0..<b {
            for g in 0..<gN {
                var idx: [Int] = []
                for q in 0..<pos { for j in 0..<cg { idx.append((n * pos + q) * c + g * cg + j) } }
                let mean = idx.reduce(0.0) { $0 + Double(x.scalars[$1]) } / Double(idx.count)
                let v = idx.reduce(0.0) { $0 + pow(Double(x.scalars[$1]) - mean, 2) } / Double(idx.count)
                for i in idx {
                    let ch = i % c
                    y.scalars[i] = Float(
                        (Double(x.scalars[i]) - mean) / (v + Double(epsilon)).squareRoot()
                            * Double(gamma.scalars[ch]) + Double(beta.scalars[ch]))
                }
            }
        }
        return y
    }

    /// LayerNorm over the last axis D of x [R, D].
    public static func layerNorm(_ x: Tensor, gamma: Tensor, beta: Tensor, epsilon: Float) -> Tensor {
        let d = x.shape.last!, r = x.count / d
        var y = x
        for i in 0..<r {
            let row = (0..<d).map { Double(x.scalars[i * d + $0]) }
            let mean = row.reduce(0, +) / Double(d)
            let v = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(d)
            for j in 0..<d {
                y.scalars[i * d + j] = Float(
                    (row[j] - mean) / (v + Double(epsilon)).squareRoot()
                        * Double(gamma.scalars[j]) + Double(beta.scalars[j]))
            }
        }
        return y
    }

    /// Softmax over the last axis.
    public static func softmax(_ x: Tensor) -> Tensor {
        let d = x.shape.last!, r = x.count / d
        var y = x
        for i in 0..<r {
            let row = (0..<d).map { Double(x.scalars[i * d + $0]) }
            let mx = row.max()!
            let e = row.map { exp($0 - mx) }, s = e.reduce(0, +)
            for j in 0..<d { y.scalars[i * d + j] = Float(e[j] / s) }
        }
        return y
    }

    /// log-softmax over the last axis.
    public static func logSoftmax(_ x: Tensor) -> Tensor {
        let d = x.shape.last!, r = x.count / d
        var y = x
        for i in 0..<r {
            let row = (0..<d).map { Double(x.scalars[i * d + $0]) }
            let mx = row.max()!
            let lse = mx + log(row.reduce(0) { $0 + exp($1 - mx) })
            for j in 0..<d { y.scalars[i * d + j] = Float(row[j] - lse) }
        }
        return y
    }

    /// Mean cross-entropy of logits [B, classes] against integer labels.
    public static func crossEntropy(logits: Tensor, labels: [Int]) -> Double {
        let ls = logSoftmax(logits), k = logits.shape[1]
        return labels.enumerated().reduce(0.0) { $0 - Double(ls.scalars[$1.offset * k + $1.element]) } / Double(labels.count)
    }

    /// GELU with the exact erf form: x·Φ(x) = ½x(1 + erf(x/√2)).
    public static func gelu(_ x: Tensor) -> Tensor {
        Tensor(
            shape: x.shape,
            scalars: x.scalars.map { v in
                let d = Double(v); return Float(0.5 * d * (1 + erf(d / 2.0.squareRoot())))
            })
    }

    /// Average pooling, window k×k, stride s, no padding, channels-last.
    public static func avgPool(_ x: Tensor, window k: Int, stride s: Int) -> Tensor {
        let (b, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = (h - k) / s + 1, ow = (w - k) / s + 1
        var y = Tensor(shape: [b, oh, ow, c])
        for n in 0..<b {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    for ch in 0..<c {
                        var acc = 0.0
                        for ky in 0..<k { for kx in 0..<k { acc += Double(x.scalars[((n * h + oy * s + ky) * w + ox * s + kx) * c + ch]) } }
                        y.scalars[((n * oh + oy) * ow + ox) * c + ch] = Float(acc / Double(k * k))
                    }
                }
            }
        }
        return y
    }
}

extension Reference {
    /// Nearest upsampling by s: y[b, i, j, c] = x[b, ⌊i/s⌋, ⌊j/s⌋, c]; x [B, H, W, C] → [B, sH, sW, C].
    public static func upsampleNearest(_ x: Tensor, factor s: Int) -> Tensor {
        let (b, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var y = Tensor(shape: [b, h * s, w * s, c])
        for n in 0..<b {
            for i in 0..<(h * s) {
                for j in 0..<(w * s) {
                    for k in 0..<c {
                        y[n, i, j, k] = x[n, i / s, j / s, k]
                    }
                }
            }
        }
        return y
    }

    /// Adjoint of `upsampleNearest`: dx[b, i, j, c] = Σ_{u,v < s} dy[b, si + u, sj + v, c] (Double sums).
    public static func upsampleNearestBackward(_ dy: Tensor, factor s: Int) -> Tensor {
        let (b, oh, ow, c) = (dy.shape[0], dy.shape[1], dy.shape[2], dy.shape[3])
        var dx = Tensor(shape: [b, oh / s, ow / s, c])
        for n in 0..<b {
            for i in 0..<(oh / s) {
                for j in 0..<(ow / s) {
                    for k in 0..<c {
                        var acc = 0.0
                        for u in 0..<s { for v in 0..<s { acc += Double(dy[n, i * s + u, j * s + v, k]) } }
                        dx[n, i, j, k] = Float(acc)
                    }
                }
            }
        }
        return dx
    }

    /// Fusion sum y = Σₖ partsₖ (then ReLU when `relu`), summed in Double.
    public static func fusionSum(_ parts: [Tensor], relu: Bool) -> Tensor {
        var y = Tensor(shape: parts[0].shape)
        for i in 0..<y.count {
            let s = parts.reduce(0.0) { $0 + Double($1.scalars[i]) }
            y.scalars[i] = Float(relu ? max(s, 0) : s)
        }
        return y
    }
}
