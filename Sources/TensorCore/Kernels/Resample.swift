// Nearest-neighbour upsampling and the multiscale fusion sum (MDEQ), channels-last.
//   x [B, H, W, C] → y [B, sH, sW, C] with y[b, i, j, c] = x[b, ⌊i/s⌋, ⌊j/s⌋, c]   (PyTorch mode='nearest', integer s)

/// Nearest-neighbour upsampling by an integer factor.
public enum UpsampleNearest {
    /// y[b, i, j, c] = x[b, ⌊i/s⌋, ⌊j/s⌋, c]; y has B·sH·sW·C elements and is overwritten.
    public static func forward(
        batch b: Int, height h: Int, width w: Int, channels c: Int, factor s: Int,
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>
    ) {
        precondition(s >= 1, "upsampling factor must be ≥ 1")
        let oh = h * s, ow = w * s
        for n in 0..<b {
            for i in 0..<h {
                let srcRow = x + (n * h + i) * w * c
                let firstOut = y + (n * oh + i * s) * ow * c
                // One output row from the input row, then s − 1 copies of it.
                for j in 0..<w {
                    let src = srcRow + j * c
                    for r in 0..<s { (firstOut + (j * s + r) * c).update(from: src, count: c) }
                }
                var r = 1
                while r < s { (firstOut + r * ow * c).update(from: firstOut, count: ow * c); r += 1 }
            }
        }
    }

    /// The adjoint: dx[b, i, j, c] = Σ over the s×s block of dy; dx (B·H·W·C) is overwritten.
    /// When `accumulate` is true, dx += the block sums instead.
    public static func backward(
        batch b: Int, height h: Int, width w: Int, channels c: Int, factor s: Int,
        _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, accumulate: Bool = false
    ) {
        let oh = h * s, ow = w * s
        if !accumulate { dx.update(repeating: 0, count: b * h * w * c) }
        for n in 0..<b {
            for oi in 0..<oh {
                let row = dy + (n * oh + oi) * ow * c
                let dst = dx + (n * h + oi / s) * w * c
                for j in 0..<w {
                    let d = dst + j * c
                    for r in 0..<s {
                        let g = row + (j * s + r) * c
                        for k in 0..<c { d[k] += g[k] }
                    }
                }
            }
        }
    }
}

/// The fusion sum of MDEQ's multiscale step: y = Σₖ xₖ (optionally followed by ReLU), n elements each.
public enum FusionSum {
    /// y = Σₖ parts[k] (ReLU'd when `relu`); y may alias none of the parts. At least one part.
    public static func forward(_ n: Int, parts: [UnsafePointer<Float>], relu: Bool, _ y: UnsafeMutablePointer<Float>) {
        precondition(!parts.isEmpty, "fusion sum of no tensors")
        y.update(from: parts[0], count: n)
        for k in 1..<parts.count { let p = parts[k]; for i in 0..<n { y[i] += p[i] } }
        if relu { for i in 0..<n { y[i] = max(y[i], 0) } }
    }

    /// The gradient reaching every part: dy·1[y > 0] with ReLU (y the forward output), else dy. Written to dx.
    public static func backward(
        _ n: Int, output y: UnsafePointer<Float>, relu: Bool, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>
    ) {
        if relu { for i in 0..<n { dx[i] = y[i] > 0 ? dy[i] : 0 } } else { dx.update(from: dy, count: n) }
    }
}

extension FusionSum {
    /// y = Σₖ parts[k] (ReLU'd when `relu`) on tensors of equal shape.
    public static func sum(_ parts: [Tensor], relu: Bool) -> Tensor {
        precondition(!parts.isEmpty && parts.allSatisfy { $0.shape == parts[0].shape }, "fusion sum needs tensors of one shape")
        let n = parts[0].count
        return Tensor(shape: parts[0].shape) { y in
            var ptrs: [UnsafePointer<Float>] = []
            ptrs.reserveCapacity(parts.count)
            // Nested scopes keep every part's storage pinned while the kernel reads it.
            func collect(_ k: Int) {
                if k == parts.count { forward(n, parts: ptrs, relu: relu, y.baseAddress!); return }
                parts[k].withUnsafeBufferPointer {
                    ptrs.append($0.baseAddress!); collect(k + 1)
                }
            }
            collect(0)
        }
    }

    /// dL/d(each part) from dL/dy and the forward output y.
    public static func sumBackward(_ dy: Tensor, output y: Tensor, relu: Bool) -> Tensor {
        precondition(dy.shape == y.shape, "fusion backward: \(dy.shape) vs \(y.shape)")
        return Tensor(shape: dy.shape) { dx in
            dy.withUnsafeBufferPointer { pg in
                y.withUnsafeBufferPointer { py in
                    backward(pg.count, output: py.baseAddress!, relu: relu, pg.baseAddress!, dx.baseAddress!)
                }
            }
        }
    }
}
