// Direct 2-D convolution (forward), channels-last, with register micro-kernels: no im2col.
//
// Why: the DEQ-S convolutions are skinny GEMMs (N = Co = 32/64), where OpenBLAS reaches 56–77 GFLOP/s through
// im2col; the micro-kernel keeps a tile of outputs in vector registers and streams the weights panel by panel
// (BENCHMARKS.md). Two kernels, C with intrinsics (CDirectConv), chosen at run time (`directKernel`):
//  - AVX2 + FMA: 6 positions × 16 channels in 12 ymm registers;
//  - AVX-512F: 14 positions × 32 channels in 28 of the 32 zmm registers (issue 23); on this project's machine
//    (AMD EPYC, Zen 5 family 26, full-width 512-bit FMA) the faster of the two at the DEQ-S shapes (BENCHMARKS.md).
// Both compute every output with the same single-rounding FMAs in the same order, so their results are
// bit-identical (tested): the choice changes speed, never a number. `EQUICERT_DIRECT_KERNEL=avx2|avx512` forces
// one (for A/B benchmarks). On a CPU without AVX2/FMA, or another architecture, `supportsDirect` is false and
// im2col + GEMM is used.
//
// Names as in Conv2D.swift: B, H, W, Ci, Co, KH, KW, s (stride), p (padding), OH, OW.
// Panels wq: [Co/16][KH·KW][Ci][16] — panel j holds output channels 16j…16j+15, tap-major then input channel, so
// the micro-kernel reads it front to back.
// Output y[b, oy, ox, o] = bias[o] + Σ_{ky,kx,c} xpad[b, oy·s + ky, ox·s + kx, c] · w[o, c, ky, kx], summed in the
// order (ky, kx) then c, in Float: the same order for every output, whatever the chunking or thread count.

import CDirectConv
import Dispatch
import Foundation

/// A micro-kernel of `Conv2D.forwardDirect`. All give bit-identical outputs; they differ in speed.
public enum DirectConvKernel: String, CaseIterable, Sendable {
    /// 6 positions × 16 output channels in 12 ymm registers (x86-64 with AVX2 and FMA).
    case avx2
    /// 14 positions × 32 output channels in 28 zmm registers (x86-64 with AVX-512F and FMA).
    case avx512

    /// Whether this CPU runs the kernel.
    public var isAvailable: Bool {
        switch self {
        case .avx2: Self.cpuRunsAVX2
        case .avx512: Self.cpuRunsAVX2 && Self.cpuRunsAVX512
        }
    }

    private static let cpuRunsAVX2 = equicert_direct_conv_available() != 0
    private static let cpuRunsAVX512 = equicert_direct_conv_avx512_available() != 0

    /// The environment variable that forces a kernel (`avx2` or `avx512`).
    public static let environmentVariable = "EQUICERT_DIRECT_KERNEL"

    /// The kernel to use: the one `requested` names when the CPU has it, else the fastest available (AVX-512, then
    /// AVX2), or nil when there is none; `warning` says why a request was not followed.
    public static func select(
        requested: String?, available: Set<DirectConvKernel>
    ) -> (kernel: DirectConvKernel?, warning: String?) {
        let best = [DirectConvKernel.avx512, .avx2].first { available.contains($0) }
        guard let requested, !requested.isEmpty else { return (best, nil) }
        let fallback = best.map { "the \($0.rawValue) kernel" } ?? "im2col + GEMM"
        guard let kernel = DirectConvKernel(rawValue: requested.lowercased()) else {
            let names = allCases.map(\.rawValue).joined(separator: ", ")
            return (best, "\(environmentVariable)=\(requested) is not a kernel (\(names)); using \(fallback)")
        }
        guard available.contains(kernel) else {
            return (best, "\(environmentVariable)=\(requested): this CPU lacks the instructions; using \(fallback)")
        }
        return (kernel, nil)
    }
}

extension Conv2D {
    /// Output channels per weight panel (one AVX-512 vector, two AVX2 vectors).
    public static let directPanelWidth = 16

    /// The micro-kernel `forwardDirect` uses by default: the fastest this CPU runs, or the one
    /// `EQUICERT_DIRECT_KERNEL` names (a request the CPU cannot follow is reported on stderr and ignored); nil
    /// when the CPU runs none (then `supportsDirect` is false).
    public static let directKernel: DirectConvKernel? = {
        let (kernel, warning) = DirectConvKernel.select(
            requested: ProcessInfo.processInfo.environment[DirectConvKernel.environmentVariable],
            available: Set(DirectConvKernel.allCases.filter(\.isAvailable)))
        if let warning { FileHandle.standardError.write(Data("equicert: \(warning)\n".utf8)) }
        return kernel
    }()

    /// The default kernel's name, for `equicert info` and benchmarks: "avx512", "avx2" or "none (im2col + GEMM)".
    public static var directKernelName: String { directKernel?.rawValue ?? "none (im2col + GEMM)" }

    /// Whether this CPU runs a micro-kernel (x86-64 with AVX2 and FMA at least).
    public static let directKernelAvailable = DirectConvKernel.avx2.isAvailable

    /// True when `forwardDirect` handles the geometry: the CPU has the kernel, Co is a multiple of 16 and there are
    /// at least 8 input channels (with fewer, the per-tap loop is too short and im2col + GEMM is faster); 1×1
    /// unpadded stride-1 convolutions are plain GEMMs and stay with OpenBLAS.
    public static func supportsDirect(_ g: Conv2DGeometry) -> Bool {
        directKernelAvailable && g.outChannels % directPanelWidth == 0 && g.inChannels >= 8 && !g.isPointwise
    }

    /// Repack a PyTorch-layout weight [Co, Ci, KH, KW] into panels [Co/16][KH·KW][Ci][16].
    public static func packWeightPanels(
        _ g: Conv2DGeometry, _ w: UnsafePointer<Float>,
        into wq: UnsafeMutablePointer<Float>
    ) {
        let ci = g.inChannels, taps = g.kernelHeight * g.kernelWidth, pw = directPanelWidth
        for o in 0..<g.outChannels {
            let panel = o / pw, lane = o % pw
            for c in 0..<ci {
                for t in 0..<taps {
                    wq[((panel * taps + t) * ci + c) * pw + lane] = w[(o * ci + c) * taps + t]
                }
            }
        }
    }

    /// y = conv(x, w) (+ bias), x [B, H, W, Ci], y [B, OH, OW, Co], weights as `packWeightPanels` makes them.
    /// Samples are processed in chunks whose zero-padded copy stays in L2; chunks are spread over `threads`
    /// threads (default: OpenBLAS's thread count, so a rank with one BLAS thread stays on one core).
    public static func forwardDirect(
        _ g: Conv2DGeometry, input x: UnsafePointer<Float>,
        panels wq: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        output y: UnsafeMutablePointer<Float>, threads: Int = BLAS.threadCount, kernel: DirectConvKernel? = nil
    ) {
        precondition(supportsDirect(g), "forwardDirect: unsupported geometry \(g)")
        let kernel = kernel ?? directKernel ?? .avx2
        precondition(kernel.isAvailable, "forwardDirect: this CPU cannot run the \(kernel.rawValue) kernel")
        let paddedH = g.height + 2 * g.padding, paddedW = g.width + 2 * g.padding
        let paddedSample = paddedH * paddedW * g.inChannels
        let perChunk = max(1, min(g.batch, (512 << 10) / (4 * paddedSample)))
        let chunks = (g.batch + perChunk - 1) / perChunk
        let workers = max(1, min(threads, chunks))
        // Addresses as integers: the closure below is @Sendable.
        let xa = UInt(bitPattern: x), wa = UInt(bitPattern: wq), ya = UInt(bitPattern: y)
        let ba = bias.map { UInt(bitPattern: $0) }
        let work: @Sendable (Int) -> Void = { worker in
            let x = UnsafePointer<Float>(bitPattern: xa)!, wq = UnsafePointer<Float>(bitPattern: wa)!
            let y = UnsafeMutablePointer<Float>(bitPattern: ya)!
            let bias = ba.flatMap { UnsafePointer<Float>(bitPattern: $0) }
            let padded = UnsafeMutablePointer<Float>.allocate(capacity: perChunk * paddedSample)
            defer { padded.deallocate() }
            var chunk = worker
            while chunk < chunks {
                let b0 = chunk * perChunk, count = min(perChunk, g.batch - b0)
                padInput(g, x, samples: b0, count, into: padded)
                directChunk(
                    g, padded: padded, samples: count, panels: wq, bias: bias,
                    output: y + b0 * g.outHeight * g.outWidth * g.outChannels, kernel: kernel)
                chunk += workers
            }
        }
        if workers == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: work) }
    }

    /// Copies samples [b0, b0 + count) of x into `padded` [count, H + 2p, W + 2p, Ci] with a zero border.
    @usableFromInline
    static func padInput(
        _ g: Conv2DGeometry, _ x: UnsafePointer<Float>, samples b0: Int, _ count: Int,
        into padded: UnsafeMutablePointer<Float>
    ) {
        let p = g.padding, ci = g.inChannels
        let paddedH = g.height + 2 * p, paddedW = g.width + 2 * p
        let row = g.width * ci, paddedRow = paddedW * ci
        for s in 0..<count {
            let sample = padded + s * paddedH * paddedRow
            if p > 0 {  // only the border is zeroed; the interior is overwritten below
                sample.update(repeating: 0, count: p * paddedRow)
                (sample + (p + g.height) * paddedRow).update(repeating: 0, count: p * paddedRow)
            }
            for iy in 0..<g.height {
                let dst = sample + (iy + p) * paddedRow
                if p > 0 {
                    dst.update(repeating: 0, count: p * ci)
                    (dst + (p + g.width) * ci).update(repeating: 0, count: p * ci)
                }
                (dst + p * ci).update(from: x + ((b0 + s) * g.height + iy) * row, count: row)
            }
        }
    }

    /// The micro-kernel over one padded chunk (C, CDirectConv): output positions (all samples of the chunk,
    /// flattened) in tiles of 6 (AVX2) or 14 (AVX-512), output channels in panels of 16.
    @usableFromInline
    static func directChunk(
        _ g: Conv2DGeometry, padded: UnsafePointer<Float>, samples: Int,
        panels wq: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        output y: UnsafeMutablePointer<Float>, kernel: DirectConvKernel
    ) {
        let ci = g.inChannels, kw = g.kernelWidth, taps = g.kernelHeight * kw
        let paddedW = g.width + 2 * g.padding, paddedSample = (g.height + 2 * g.padding) * paddedW * ci
        let perSample = g.outHeight * g.outWidth
        withUnsafeTemporaryAllocation(of: Int.self, capacity: taps) { tapOffset in
            for t in 0..<taps { tapOffset[t] = ((t / kw) * paddedW + t % kw) * ci }
            let tiles =
                switch kernel {
                case .avx2: equicert_direct_conv_tiles
                case .avx512: equicert_direct_conv_tiles_avx512
                }
            tiles(
                padded, samples * perSample, perSample, g.outWidth, g.stride, paddedW, paddedSample,
                ci, taps, tapOffset.baseAddress!, wq, g.outChannels, bias, y)
        }
    }
}
