import ArgumentParser
import Foundation
import TensorCore

/// `equicert bench kernels`: GFLOP/s of sgemm and conv2d at the project's shapes, each conv as a ratio to the
/// sgemm of the same M·N·K measured in the same run.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure kernel throughput (GFLOP/s) against the sgemm rate of the same shapes.")

    @Option(help: "OpenBLAS threads (default: all cores).")
    var threads: Int?
    @Option(help: "Seconds per measurement (best of repeated runs within this budget).")
    var seconds: Double = 1.0
    @Option(help: "im2col chunk size in KiB.")
    var chunkKiB: Int?

    func run() throws {
        if let threads { BLAS.setThreadCount(threads) }
        if let chunkKiB { Conv2D.chunkBytes = chunkKiB * 1024 }
        print("BLAS core \(BLAS.coreName), \(BLAS.threadCount) thread(s), im2col chunk \(Conv2D.chunkBytes / 1024) KiB\n")
        print("| kernel | shape | GFLOP/s | ratio to sgemm of same M·N·K |")
        print("|---|---|---|---|")
        let gemms: [(String, Int, Int, Int)] = [
            ("square", 1024, 1024, 1024),
            ("DEQ-S conv1 (M=400·196)", 78400, 64, 288),
            ("DEQ-S conv2 (M=400·196)", 78400, 32, 576),
            ("MiniLM QKV/out (32·128 tokens)", 4096, 384, 384),
            ("MiniLM FFN in", 4096, 1536, 384),
            ("MiniLM FFN out", 4096, 384, 1536),
        ]
        for (name, m, n, k) in gemms {
            let r = Self.gemmRate(m: m, n: n, k: k, budget: seconds)
            print("| sgemm | \(name): M=\(m) N=\(n) K=\(k) | \(String(format: "%.1f", r)) | 1 |")
        }
        for (ci, co) in [(32, 64), (64, 32)] {
            let g = Conv2DGeometry(
                batch: 400, height: 14, width: 14, inChannels: ci, outChannels: co,
                kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1)
            let gemm = Self.gemmRate(m: g.gemmRows, n: co, k: g.gemmDepth, budget: seconds)
            let (fwd, bwd) = Self.convRates(g, budget: seconds)
            let shape = "B=400 14×14 \(ci)→\(co) 3×3 pad 1"
            print("| sgemm (same M·N·K) | \(shape) | \(String(format: "%.1f", gemm)) | 1 |")
            print("| conv2d forward | \(shape) | \(String(format: "%.1f", fwd)) | \(String(format: "%.2f", fwd / gemm)) |")
            print("| conv2d backward (dx + dW + db) | \(shape) | \(String(format: "%.1f", bwd)) | \(String(format: "%.2f", bwd / gemm)) |")
        }
    }

    /// Best wall time of `body` over repeated runs within `budget` seconds (at least `minimumRuns`, after one warm-up).
    static func bestSeconds(budget: Double, minimumRuns: Int = 1, _ body: () -> Void) -> Double {
        body()  // warm-up
        var best = Double.infinity, runs = 0
        let start = DispatchTime.now().uptimeNanoseconds
        repeat {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
            runs += 1
        } while Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 < budget || runs < minimumRuns
        return best
    }

    /// Best GFLOP/s of `body` (doing `flops` work) over repeated runs within `budget` seconds.
    static func bestRate(flops: Double, budget: Double, _ body: () -> Void) -> Double {
        flops / bestSeconds(budget: budget, body) * 1e-9
    }

    static func gemmRate(m: Int, n: Int, k: Int, budget: Double) -> Double {
        var stream = RandomStream(seed: 1, 1)
        let a = stream.uniform(shape: [m, k]), b = stream.uniform(shape: [n, k])
        var c = Tensor(shape: [m, n])
        return a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    bestRate(flops: 2 * Double(m) * Double(n) * Double(k), budget: budget) {
                        BLAS.sgemm(
                            transA: false, transB: true, m: m, n: n, k: k, a: pa.baseAddress!, lda: k,
                            b: pb.baseAddress!, ldb: k, c: pc.baseAddress!, ldc: n)
                    }
                }
            }
        }
    }

    static func convRates(_ g: Conv2DGeometry, budget: Double) -> (forward: Double, backward: Double) {
        var stream = RandomStream(seed: 2, 2)
        let x = stream.uniform(shape: [g.batch, g.height, g.width, g.inChannels])
        let w = stream.uniform(shape: [g.outChannels, g.gemmDepth])
        var y = Tensor(shape: [g.batch, g.outHeight, g.outWidth, g.outChannels])
        var dx = Tensor(shape: x.shape), dw = Tensor(shape: w.shape), db = Tensor(shape: [g.outChannels])
        let f = x.withUnsafeBufferPointer { px in
            w.withUnsafeBufferPointer { pw in
                y.withUnsafeMutableBufferPointer { py in
                    bestRate(flops: g.forwardFLOPs, budget: budget) {
                        Conv2D.forward(g, input: px.baseAddress!, packedWeight: pw.baseAddress!, bias: nil, output: py.baseAddress!)
                    }
                }
            }
        }
        let b = x.withUnsafeBufferPointer { px in
            w.withUnsafeBufferPointer { pw in
                y.withUnsafeBufferPointer { py in
                    dx.withUnsafeMutableBufferPointer { pdx in
                        dw.withUnsafeMutableBufferPointer { pdw in
                            db.withUnsafeMutableBufferPointer { pdb in
                                bestRate(flops: 2 * g.forwardFLOPs, budget: budget) {
                                    Conv2D.backward(
                                        g, input: px.baseAddress!, packedWeight: pw.baseAddress!, gradOutput: py.baseAddress!,
                                        gradInput: pdx.baseAddress!, gradPackedWeight: pdw.baseAddress!, gradBias: pdb.baseAddress!)
                                }
                            }
                        }
                    }
                }
            }
        }
        return (f, b)
    }
}
