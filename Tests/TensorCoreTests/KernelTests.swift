import TensorCore
// Fast kernels held to their naive reference twins on random shapes (odd sizes included),
// and every backward checked against finite differences.
import Testing
import _TestSupport

/// Run `body` with read-only pointers of several tensors (helper for kernel calls in tests).
private func ptr(_ t: Tensor) -> UnsafePointer<Float> {
    // Arrays of tests are kept alive by the caller for the duration of the call.
    t.scalars.withUnsafeBufferPointer { UnsafePointer($0.baseAddress!) }
}

@Suite("Matmul")
struct MatmulTests {
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matchesReference(ta: Bool, tb: Bool) {
        var rng = TestRandom(seed: 1)
        for _ in 0..<6 {
            let m = rng.int(1, 37), n = rng.int(1, 29), k = rng.int(1, 41)
            let a = rng.tensor(ta ? [k, m] : [m, k]), b = rng.tensor(tb ? [n, k] : [k, n])
            let fast = Tensor.matmul(a, b, transposeA: ta, transposeB: tb)
            let ref = Reference.matmul(a, b, transposeA: ta, transposeB: tb)
            #expect(fast.shape == [m, n])
            #expect(relativeMaxError(fast, ref) < 1e-5)
        }
    }
}

@Suite("Conv2D")
struct Conv2DTests {
    struct Case: Sendable, CustomStringConvertible {
        var b, h, w, ci, co, k, s, p: Int
        var description: String { "B\(b) \(h)x\(w) \(ci)->\(co) k\(k) s\(s) p\(p)" }
    }
    static let cases: [Case] = [
        Case(b: 2, h: 7, w: 5, ci: 3, co: 4, k: 3, s: 1, p: 1),
        Case(b: 3, h: 9, w: 9, ci: 1, co: 5, k: 3, s: 2, p: 1),
        Case(b: 1, h: 6, w: 8, ci: 5, co: 3, k: 1, s: 1, p: 0),  // pointwise fast path
        Case(b: 2, h: 11, w: 6, ci: 2, co: 7, k: 5, s: 3, p: 2),
        Case(b: 2, h: 4, w: 4, ci: 3, co: 2, k: 2, s: 2, p: 0),
        Case(b: 5, h: 14, w: 14, ci: 8, co: 16, k: 3, s: 1, p: 1),  // DEQ-like, several chunks below
    ]

    func geometry(_ c: Case) -> Conv2DGeometry {
        Conv2DGeometry(
            batch: c.b, height: c.h, width: c.w, inChannels: c.ci, outChannels: c.co,
            kernelHeight: c.k, kernelWidth: c.k, stride: c.s, padding: c.p)
    }

    func run(_ c: Case, x: Tensor, w: Tensor, bias: Tensor, chunkBytes: Int = Conv2D.chunkBytes) -> Tensor {
        let g = geometry(c)
        var wp = [Float](repeating: 0, count: w.count)
        var y = Tensor(shape: [c.b, g.outHeight, g.outWidth, c.co])
        x.withUnsafeBufferPointer { px in
            w.withUnsafeBufferPointer { pw in
                bias.withUnsafeBufferPointer { pb in
                    wp.withUnsafeMutableBufferPointer { pwp in
                        Conv2D.packWeight(g, pw.baseAddress!, into: pwp.baseAddress!)
                        y.withUnsafeMutableBufferPointer { py in
                            Conv2D.forward(
                                g, input: px.baseAddress!, packedWeight: pwp.baseAddress!, bias: pb.baseAddress!,
                                output: py.baseAddress!, chunkBytes: chunkBytes)
                        }
                    }
                }
            }
        }
        return y
    }

    @Test(arguments: cases)
    func forwardMatchesReference(_ c: Case) {
        var rng = TestRandom(seed: UInt64(c.h * 100 + c.ci))
        let x = rng.tensor([c.b, c.h, c.w, c.ci]), w = rng.tensor([c.co, c.ci, c.k, c.k]), bias = rng.tensor([c.co])
        for chunk in [Conv2D.chunkBytes, 4096] {  // small chunks exercise the row-chunk boundaries
            let fast = run(c, x: x, w: w, bias: bias, chunkBytes: chunk)
            let ref = Reference.conv2d(x, weight: w, bias: bias, stride: c.s, padding: c.p)
            #expect(fast.shape == ref.shape)
            #expect(relativeMaxError(fast, ref) < 1e-5, "\(c) chunk \(chunk)")
        }
    }

    /// Geometries of the direct kernel (Co a multiple of 16, Ci ≥ 8): DEQ-S's two convolutions, strides, padding 0
    /// and 2, non-square kernels' positions, batch sizes that leave short tiles and several sample chunks.
    static let directCases: [Case] = [
        Case(b: 3, h: 14, w: 14, ci: 32, co: 64, k: 3, s: 1, p: 1),  // DEQ-S conv1 (196 positions: a short tile)
        Case(b: 2, h: 14, w: 14, ci: 64, co: 32, k: 3, s: 1, p: 1),  // DEQ-S conv2
        Case(b: 2, h: 14, w: 14, ci: 32, co: 64, k: 3, s: 2, p: 1),  // a stride-2 head
        Case(b: 3, h: 9, w: 7, ci: 9, co: 16, k: 3, s: 1, p: 0),
        Case(b: 2, h: 11, w: 6, ci: 12, co: 48, k: 5, s: 3, p: 2),
        Case(b: 1, h: 5, w: 5, ci: 8, co: 16, k: 1, s: 2, p: 0),
        Case(b: 70, h: 8, w: 8, ci: 128, co: 16, k: 3, s: 1, p: 1),  // 70 samples: several L2-sized chunks
    ]

    @Test(arguments: directCases)
    func directForwardMatchesReference(_ c: Case) {
        var rng = TestRandom(seed: UInt64(c.h * 31 + c.ci + c.b))
        let g = geometry(c)
        guard Conv2D.directKernelAvailable else { return }  // a CPU without AVX2/FMA: im2col + GEMM only
        #expect(Conv2D.supportsDirect(g))
        let x = rng.tensor([c.b, c.h, c.w, c.ci]), w = rng.tensor([c.co, c.ci, c.k, c.k]), bias = rng.tensor([c.co])
        var panels = [Float](repeating: 0, count: w.count)
        w.withUnsafeBufferPointer { pw in panels.withUnsafeMutableBufferPointer { Conv2D.packWeightPanels(g, pw.baseAddress!, into: $0.baseAddress!) }
        }
        let ref = Reference.conv2d(x, weight: w, bias: bias, stride: c.s, padding: c.p)
        var outputs: [Tensor] = []
        for threads in [1, 2, 3] {
            for withBias in [true, false] {
                var y = Tensor(shape: ref.shape)
                x.withUnsafeBufferPointer { px in
                    panels.withUnsafeBufferPointer { pp in
                        bias.withUnsafeBufferPointer { pb in
                            y.withUnsafeMutableBufferPointer { py in
                                Conv2D.forwardDirect(
                                    g, input: px.baseAddress!, panels: pp.baseAddress!,
                                    bias: withBias ? pb.baseAddress! : nil, output: py.baseAddress!, threads: threads)
                            }
                        }
                    }
                }
                let expected = withBias ? ref : Reference.conv2d(x, weight: w, bias: nil, stride: c.s, padding: c.p)
                #expect(relativeMaxError(y, expected) < 1e-5, "\(c) threads \(threads) bias \(withBias)")
                if withBias { outputs.append(y) }
            }
        }
        // The summation order is fixed per output: any thread count gives the same bits.
        #expect(outputs.allSatisfy { $0.scalars == outputs[0].scalars })
    }

    /// forwardDirect with a given micro-kernel.
    func direct(
        _ c: Case, x: Tensor, panels: [Float], bias: Tensor?, threads: Int, kernel: DirectConvKernel
    ) -> Tensor {
        let g = geometry(c)
        var y = Tensor(shape: [c.b, g.outHeight, g.outWidth, c.co])
        x.withUnsafeBufferPointer { px in
            panels.withUnsafeBufferPointer { pp in
                (bias ?? Tensor(shape: [0])).withUnsafeBufferPointer { pb in
                    y.withUnsafeMutableBufferPointer { py in
                        Conv2D.forwardDirect(
                            g, input: px.baseAddress!, panels: pp.baseAddress!, bias: bias == nil ? nil : pb.baseAddress!,
                            output: py.baseAddress!, threads: threads, kernel: kernel)
                    }
                }
            }
        }
        return y
    }

    /// Geometries for the AVX-512 kernel against the AVX2 one: its 14-position tile cut short (positions not a
    /// multiple of 14, nor of 6; fewer positions than a tile), Co = 16, 32, 48, 64, 80 (odd panel counts end with a
    /// one-panel tile), strides 1–3, padding 0–2, several sample chunks.
    static let kernelPairCases: [Case] =
        directCases + [
            Case(b: 1, h: 14, w: 14, ci: 32, co: 32, k: 3, s: 1, p: 1),
            Case(b: 4, h: 14, w: 14, ci: 32, co: 48, k: 3, s: 2, p: 1),  // 49 positions per sample
            Case(b: 1, h: 3, w: 3, ci: 8, co: 64, k: 3, s: 1, p: 1),  // 9 positions: one short tile
            Case(b: 1, h: 2, w: 2, ci: 16, co: 32, k: 3, s: 2, p: 1),  // 1 position
            Case(b: 5, h: 13, w: 11, ci: 24, co: 80, k: 3, s: 1, p: 1),
            Case(b: 3, h: 10, w: 9, ci: 40, co: 16, k: 2, s: 2, p: 0),
            Case(b: 2, h: 15, w: 15, ci: 64, co: 64, k: 3, s: 2, p: 1),
            Case(b: 50, h: 14, w: 14, ci: 64, co: 32, k: 3, s: 1, p: 1),  // DEQ-S conv2 at batch 50: 7 chunks
        ]

    /// The AVX-512 kernel performs the AVX2 kernel's FMAs in the same order per output: equal bits (==), with and
    /// without bias, at any thread count; and both match the reference twin.
    @Test(arguments: kernelPairCases)
    func avx512KernelIsBitIdenticalToAVX2(_ c: Case) {
        guard DirectConvKernel.avx512.isAvailable else { return }  // a CPU without AVX-512F: nothing to compare
        var rng = TestRandom(seed: UInt64(c.h * 131 + c.ci * 7 + c.co + c.b))
        let g = geometry(c)
        #expect(Conv2D.supportsDirect(g))
        let x = rng.tensor([c.b, c.h, c.w, c.ci]), w = rng.tensor([c.co, c.ci, c.k, c.k]), bias = rng.tensor([c.co])
        var panels = [Float](repeating: 0, count: w.count)
        w.withUnsafeBufferPointer { pw in panels.withUnsafeMutableBufferPointer { Conv2D.packWeightPanels(g, pw.baseAddress!, into: $0.baseAddress!) }
        }
        for b in [bias, nil] {
            let ref = Reference.conv2d(x, weight: w, bias: b, stride: c.s, padding: c.p)
            let avx2 = direct(c, x: x, panels: panels, bias: b, threads: 1, kernel: .avx2)
            #expect(relativeMaxError(avx2, ref) < 1e-5, "\(c) avx2 bias \(b != nil)")
            for threads in [1, 2] {
                let avx512 = direct(c, x: x, panels: panels, bias: b, threads: threads, kernel: .avx512)
                // Compared as one Bool: a failing #expect on the arrays would print a diff of 10⁵ floats.
                let identical = avx512.scalars == avx2.scalars
                let maxDifference = zip(avx512.scalars, avx2.scalars).map { abs($0 - $1) }.max() ?? 0
                #expect(identical, "\(c) bias \(b != nil) threads \(threads): max |difference| \(maxDifference)")
                #expect(relativeMaxError(avx512, ref) < 1e-5, "\(c) avx512 bias \(b != nil)")
            }
        }
    }

    @Test func directKernelSelection() {
        let both: Set<DirectConvKernel> = [.avx2, .avx512]
        #expect(DirectConvKernel.select(requested: nil, available: both) == (.avx512, nil))
        #expect(DirectConvKernel.select(requested: "", available: both) == (.avx512, nil))
        #expect(DirectConvKernel.select(requested: "avx2", available: both) == (.avx2, nil))
        #expect(DirectConvKernel.select(requested: "AVX512", available: both) == (.avx512, nil))
        #expect(DirectConvKernel.select(requested: nil, available: [.avx2]) == (.avx2, nil))
        #expect(DirectConvKernel.select(requested: nil, available: []) == (nil, nil))
        let missing = DirectConvKernel.select(requested: "avx512", available: [.avx2])
        #expect(missing.kernel == .avx2)
        #expect(missing.warning?.contains("lacks") == true)
        let unknown = DirectConvKernel.select(requested: "sse", available: both)
        #expect(unknown.kernel == .avx512)
        #expect(unknown.warning?.contains("not a kernel") == true)
        #expect(DirectConvKernel.select(requested: "avx2", available: []).kernel == nil)
        // The process default is the fastest available kernel unless the environment forces one.
        if Conv2D.directKernelAvailable {
            #expect(Conv2D.directKernel != nil)
            #expect(Conv2D.directKernel?.isAvailable == true)
        } else {
            #expect(Conv2D.directKernel == nil)
        }
    }

    @Test func directKernelIsChosenOnlyWhereItApplies() {
        func g(ci: Int, co: Int, k: Int, p: Int) -> Conv2DGeometry {
            Conv2DGeometry(
                batch: 1, height: 8, width: 8, inChannels: ci, outChannels: co, kernelHeight: k, kernelWidth: k,
                stride: 1, padding: p)
        }
        #expect(Conv2D.supportsDirect(g(ci: 32, co: 64, k: 3, p: 1)) == Conv2D.directKernelAvailable)
        #expect(!Conv2D.supportsDirect(g(ci: 32, co: 40, k: 3, p: 1)))  // Co not a multiple of 16
        #expect(!Conv2D.supportsDirect(g(ci: 1, co: 32, k: 3, p: 1)))  // DEQ-S injection: Ci = 1
        #expect(!Conv2D.supportsDirect(g(ci: 32, co: 32, k: 1, p: 0)))  // pointwise: a plain GEMM
    }

    @Test(arguments: cases)
    func backwardMatchesReference(_ c: Case) {
        var rng = TestRandom(seed: UInt64(c.w * 77 + c.co))
        let g = geometry(c)
        let x = rng.tensor([c.b, c.h, c.w, c.ci]), w = rng.tensor([c.co, c.ci, c.k, c.k])
        let dy = rng.tensor([c.b, g.outHeight, g.outWidth, c.co])
        let ref = Reference.conv2dBackward(x, weight: w, gradOutput: dy, stride: c.s, padding: c.p)
        var dx = Tensor(shape: x.shape), dw = Tensor(shape: w.shape), db = Tensor(shape: [c.co])
        var wp = [Float](repeating: 0, count: w.count), dwp = [Float](repeating: 0, count: w.count)
        w.withUnsafeBufferPointer { pw in wp.withUnsafeMutableBufferPointer { Conv2D.packWeight(g, pw.baseAddress!, into: $0.baseAddress!) } }
        x.withUnsafeBufferPointer { px in
            dy.withUnsafeBufferPointer { pdy in
                wp.withUnsafeBufferPointer { pwp in
                    dx.withUnsafeMutableBufferPointer { pdx in
                        dwp.withUnsafeMutableBufferPointer { pdwp in
                            db.withUnsafeMutableBufferPointer { pdb in
                                Conv2D.backward(
                                    g, input: px.baseAddress!, packedWeight: pwp.baseAddress!, gradOutput: pdy.baseAddress!,
                                    gradInput: pdx.baseAddress!, gradPackedWeight: pdwp.baseAddress!, gradBias: pdb.baseAddress!,
                                    chunkBytes: 4096)
                            }
                        }
                    }
                }
            }
        }
        dwp.withUnsafeBufferPointer { s in dw.withUnsafeMutableBufferPointer { Conv2D.unpackWeightAdding(g, s.baseAddress!, into: $0.baseAddress!) } }
        #expect(relativeMaxError(dx, ref.dx) < 1e-5, "dx \(c)")
        #expect(relativeMaxError(dw, ref.dw) < 1e-5, "dw \(c)")
        #expect(relativeMaxError(db, ref.db) < 1e-5, "db \(c)")
    }

    @Test func backwardPassesFiniteDifferences() {
        let c = Case(b: 2, h: 5, w: 4, ci: 2, co: 3, k: 3, s: 2, p: 1)
        var rng = TestRandom(seed: 9)
        let x = rng.tensor([c.b, c.h, c.w, c.ci]), w = rng.tensor([c.co, c.ci, c.k, c.k]), bias = rng.tensor([c.co])
        let g = geometry(c)
        let r = rng.tensor([c.b, g.outHeight, g.outWidth, c.co])
        let ref = Reference.conv2dBackward(x, weight: w, gradOutput: r, stride: c.s, padding: c.p)
        let fdX = finiteDifferenceGradient(x.scalars) { v in probe(run(c, x: Tensor(shape: x.shape, scalars: v), w: w, bias: bias), r) }
        let fdW = finiteDifferenceGradient(w.scalars) { v in probe(run(c, x: x, w: Tensor(shape: w.shape, scalars: v), bias: bias), r) }
        #expect(relativeNormError(ref.dx.scalars, fdX) < 1e-3)
        #expect(relativeNormError(ref.dw.scalars, fdW) < 1e-3)
    }
}

@Suite("OpenBLAS core choice")
struct BLASCoreChoiceTests {
    @Test func prescottFallbackIsReplacedByTheWidestSupportedKernels() {
        let avx512: Set = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"]
        #expect(BLAS.recognisedCoreType(detected: "Prescott", cpuFlags: avx512) == "SkylakeX")
        #expect(BLAS.recognisedCoreType(detected: "Prescott", cpuFlags: ["avx", "avx2", "fma", "avx512f"]) == "Haswell")
        #expect(BLAS.recognisedCoreType(detected: "Prescott", cpuFlags: ["sse4_2", "avx"]) == nil)
        // A recognised CPU keeps OpenBLAS's own choice.
        #expect(BLAS.recognisedCoreType(detected: "Cooperlake", cpuFlags: avx512) == nil)
        #expect(BLAS.recognisedCoreType(detected: "Haswell", cpuFlags: avx512) == nil)
    }
}
