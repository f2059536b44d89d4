// 2-D convolution, channels-last, as im2col + GEMM processed in cache-sized row chunks.
//
// Names used in this file:
//   B batch, H W input height/width, Ci Co input/output channels, KH KW kernel size,
//   s stride, p padding, OH OW output size, M = B·OH·OW output pixels (GEMM rows),
//   K = KH·KW·Ci (GEMM depth; im2col column order is (ky, kx, ci), matching NHWC reads).
// Input  x: [B, H, W, Ci]      Output y: [B, OH, OW, Co]
// Weight w: [Co, Ci, KH, KW]   (PyTorch layout, as stored in checkpoints)
// Packed wp: [Co, KH, KW, Ci]  (the GEMM's B operand, row length K)

/// The geometry of one 2-D convolution (channels-last), with derived output size.
public struct Conv2DGeometry: Sendable, Equatable {
    public var batch: Int, height: Int, width: Int
    public var inChannels: Int, outChannels: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var stride: Int, padding: Int

    public init(
        batch: Int, height: Int, width: Int, inChannels: Int, outChannels: Int,
        kernelHeight: Int, kernelWidth: Int, stride: Int = 1, padding: Int = 0
    ) {
        precondition(batch >= 0 && height > 0 && width > 0 && inChannels > 0 && outChannels > 0)
        precondition(kernelHeight > 0 && kernelWidth > 0 && stride > 0 && padding >= 0)
        self.batch = batch; self.height = height; self.width = width
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.stride = stride; self.padding = padding
        precondition(outHeight > 0 && outWidth > 0, "kernel larger than padded input")
    }

    /// OH = ⌊(H + 2p − KH)/s⌋ + 1
    @inlinable public var outHeight: Int { (height + 2 * padding - kernelHeight) / stride + 1 }
    /// OW = ⌊(W + 2p − KW)/s⌋ + 1
    @inlinable public var outWidth: Int { (width + 2 * padding - kernelWidth) / stride + 1 }
    /// GEMM rows M = B·OH·OW.
    @inlinable public var gemmRows: Int { batch * outHeight * outWidth }
    /// GEMM depth K = KH·KW·Ci.
    @inlinable public var gemmDepth: Int { kernelHeight * kernelWidth * inChannels }
    /// Multiply-adds ×2 of the forward pass: 2·M·K·Co.
    public var forwardFLOPs: Double { 2 * Double(gemmRows) * Double(gemmDepth) * Double(outChannels) }
    /// True when the convolution is a plain GEMM (1×1, stride 1, no padding): no im2col needed.
    @inlinable public var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && stride == 1 && padding == 0
    }
    /// Rows per im2col chunk so one chunk of columns stays near `bytes` (L2-sized).
    @inlinable public func chunkRows(targetBytes bytes: Int = Conv2D.chunkBytes) -> Int {
        max(16, min(gemmRows, bytes / (4 * gemmDepth)))
    }
}

/// Convolution kernels on raw buffers (fast path: chunked im2col + OpenBLAS sgemm).
public enum Conv2D {
    /// Target size of one im2col chunk in bytes (tuned by `Scripts/bench`).
    /// Process-wide default of the im2col chunk (set once, e.g. by `equicert bench --chunk-kib`; tests pass
    /// `chunkBytes:` explicitly instead of changing it, since other tests run concurrently).
    nonisolated(unsafe) public static var chunkBytes = 1 << 20

    /// Repack a PyTorch-layout weight [Co, Ci, KH, KW] into the GEMM layout [Co, KH, KW, Ci].
    public static func packWeight(_ g: Conv2DGeometry, _ w: UnsafePointer<Float>, into wp: UnsafeMutablePointer<Float>) {
        let ci = g.inChannels, kh = g.kernelHeight, kw = g.kernelWidth
        for o in 0..<g.outChannels {
            for c in 0..<ci {
                for y in 0..<kh {
                    for x in 0..<kw {
                        wp[((o * kh + y) * kw + x) * ci + c] = w[((o * ci + c) * kh + y) * kw + x]
                    }
                }
            }
        }
    }

    /// Inverse of `packWeight`, accumulating: w[Co, Ci, KH, KW] += wp[Co, KH, KW, Ci].
    public static func unpackWeightAdding(_ g: Conv2DGeometry, _ wp: UnsafePointer<Float>, into w: UnsafeMutablePointer<Float>) {
        let ci = g.inChannels, kh = g.kernelHeight, kw = g.kernelWidth
        for o in 0..<g.outChannels {
            for c in 0..<ci {
                for y in 0..<kh {
                    for x in 0..<kw {
                        w[((o * ci + c) * kh + y) * kw + x] += wp[((o * kh + y) * kw + x) * ci + c]
                    }
                }
            }
        }
    }

    /// Gather rows [r0, r1) of the im2col matrix: col[(m − r0)·K + (ky·KW + kx)·Ci + c] = x[b, iy, ix, c]
    /// with (b, oy, ox) = m, iy = oy·s − p + ky, ix = ox·s − p + kx, and 0 outside the input.
    @inlinable
    public static func im2col(
        _ g: Conv2DGeometry, _ x: UnsafePointer<Float>, rows r0: Int, _ r1: Int,
        into col: UnsafeMutablePointer<Float>
    ) {
        let ci = g.inChannels, oh = g.outHeight, ow = g.outWidth, k = g.gemmDepth
        let h = g.height, w = g.width, s = g.stride, p = g.padding, kh = g.kernelHeight, kw = g.kernelWidth
        var m = r0
        while m < r1 {
            let b = m / (oh * ow), rem = m % (oh * ow), oy = rem / ow, ox = rem % ow
            let dst = col + (m - r0) * k
            let xb = x + b * h * w * ci
            for ky in 0..<kh {
                let iy = oy * s - p + ky
                let rowDst = dst + ky * kw * ci
                if iy < 0 || iy >= h {
                    rowDst.update(repeating: 0, count: kw * ci)
                    continue
                }
                let ix0 = ox * s - p
                if ix0 >= 0 && ix0 + kw <= w {
                    // Whole kernel row inside the image: one contiguous copy of KW·Ci floats.
                    rowDst.update(from: xb + (iy * w + ix0) * ci, count: kw * ci)
                } else {
                    for kx in 0..<kw {
                        let ix = ix0 + kx
                        if ix < 0 || ix >= w {
                            (rowDst + kx * ci).update(repeating: 0, count: ci)
                        } else {
                            (rowDst + kx * ci).update(from: xb + (iy * w + ix) * ci, count: ci)
                        }
                    }
                }
            }
            m += 1
        }
    }

    /// Scatter-add rows [r0, r1) of a column-gradient matrix back into dx[B, H, W, Ci] (adjoint of im2col).
    @inlinable
    public static func col2imAdding(
        _ g: Conv2DGeometry, _ col: UnsafePointer<Float>, rows r0: Int, _ r1: Int,
        into dx: UnsafeMutablePointer<Float>
    ) {
        let ci = g.inChannels, oh = g.outHeight, ow = g.outWidth, k = g.gemmDepth
        let h = g.height, w = g.width, s = g.stride, p = g.padding, kh = g.kernelHeight, kw = g.kernelWidth
        for m in r0..<r1 {
            let b = m / (oh * ow), rem = m % (oh * ow), oy = rem / ow, ox = rem % ow
            let src = col + (m - r0) * k
            let xb = dx + b * h * w * ci
            for ky in 0..<kh {
                let iy = oy * s - p + ky
                if iy < 0 || iy >= h { continue }
                for kx in 0..<kw {
                    let ix = ox * s - p + kx
                    if ix < 0 || ix >= w { continue }
                    let d = xb + (iy * w + ix) * ci, sp = src + (ky * kw + kx) * ci
                    for c in 0..<ci { d[c] += sp[c] }
                }
            }
        }
    }

    /// y[M, Co] = im2col(x)[M, K] · wpᵀ (+ bias). `wp` is the packed weight [Co, K].
    public static func forward(
        _ g: Conv2DGeometry, input x: UnsafePointer<Float>, packedWeight wp: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, output y: UnsafeMutablePointer<Float>,
        chunkBytes: Int = Conv2D.chunkBytes
    ) {
        let m = g.gemmRows, k = g.gemmDepth, co = g.outChannels
        if g.isPointwise {
            BLAS.sgemm(transA: false, transB: true, m: m, n: co, k: k, a: x, lda: k, b: wp, ldb: k, c: y, ldc: co)
        } else {
            let chunk = g.chunkRows(targetBytes: chunkBytes)
            let col = UnsafeMutablePointer<Float>.allocate(capacity: chunk * k)
            defer { col.deallocate() }
            var r0 = 0
            while r0 < m {
                let r1 = min(m, r0 + chunk)
                im2col(g, x, rows: r0, r1, into: col)
                BLAS.sgemm(
                    transA: false, transB: true, m: r1 - r0, n: co, k: k,
                    a: col, lda: k, b: wp, ldb: k, c: y + r0 * co, ldc: co)
                r0 = r1
            }
        }
        if let bias {
            for r in 0..<m { let row = y + r * co; for c in 0..<co { row[c] += bias[c] } }
        }
    }

    /// Backward pass. Given dy[M, Co]: dx = col2im(dy · wp) (overwritten), dwp[Co, K] += dyᵀ · im2col(x),
    /// db[Co] += Σ_M dy. Any of the outputs may be nil to skip it.
    public static func backward(
        _ g: Conv2DGeometry, input x: UnsafePointer<Float>, packedWeight wp: UnsafePointer<Float>,
        gradOutput dy: UnsafePointer<Float>,
        gradInput dx: UnsafeMutablePointer<Float>?,
        gradPackedWeight dwp: UnsafeMutablePointer<Float>?,
        gradBias db: UnsafeMutablePointer<Float>?, chunkBytes: Int = Conv2D.chunkBytes
    ) {
        let m = g.gemmRows, k = g.gemmDepth, co = g.outChannels
        if let db {
            for r in 0..<m { let row = dy + r * co; for c in 0..<co { db[c] += row[c] } }
        }
        if g.isPointwise {
            if let dx { BLAS.sgemm(transA: false, transB: false, m: m, n: k, k: co, a: dy, lda: co, b: wp, ldb: k, c: dx, ldc: k) }
            if let dwp {
                BLAS.sgemm(
                    transA: true, transB: false, m: co, n: k, k: m, a: dy, lda: co, b: x, ldb: k,
                    beta: 1, c: dwp, ldc: k)
            }
            return
        }
        if let dx { dx.update(repeating: 0, count: g.batch * g.height * g.width * g.inChannels) }
        let chunk = g.chunkRows(targetBytes: chunkBytes)
        let col = UnsafeMutablePointer<Float>.allocate(capacity: chunk * k)
        defer { col.deallocate() }
        var r0 = 0
        while r0 < m {
            let r1 = min(m, r0 + chunk), rows = r1 - r0
            if let dwp {
                im2col(g, x, rows: r0, r1, into: col)
                BLAS.sgemm(
                    transA: true, transB: false, m: co, n: k, k: rows, a: dy + r0 * co, lda: co,
                    b: col, ldb: k, beta: 1, c: dwp, ldc: k)
            }
            if let dx {
                BLAS.sgemm(
                    transA: false, transB: false, m: rows, n: k, k: co, a: dy + r0 * co, lda: co,
                    b: wp, ldb: k, c: col, ldc: k)
                col2imAdding(g, col, rows: r0, r1, into: dx)
            }
            r0 = r1
        }
    }
}
