import ArgumentParser
import Coordinator
import Equilibrium
import Foundation
import NeuralNet
import TensorCore

/// `equicert bench-deq`: throughput of the DEQ-S map f at batch B (samples·evaluations per second), its GFLOP/s
/// as a ratio to the sgemm rate and to the FMA peak, and a per-operation breakdown of one f-evaluation.
struct BenchDEQCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-deq",
        abstract: "Throughput of the DEQ-S block f (samples·evaluations/s) with a per-operation breakdown.")
    @Option(help: "Batch size.") var batch: Int = 400
    @Option(help: "OpenBLAS threads.") var threads: Int?
    @Option(help: "Seconds per measurement.") var seconds: Double = 2
    @Option(
        help:
            "FMA peak per core in GFLOP/s for the ratio (default: ≈117 with 256-bit FMAs, docs/distributed.md; twice that when the AVX-512 kernel runs, as on this Zen 5 whose FMA units are 512 bits wide)."
    ) var peakPerCore: Double?

    func run() throws {
        if let threads { BLAS.setThreadCount(threads) }
        let config = DEQConfiguration(normalizationMean: 0.286, normalizationStd: 0.353)
        let model = try DEQSmall(config, seed: 1)
        var rng = RandomStream(seed: 3, 3)
        let x = rng.uniform(shape: [batch, 28, 28, 1])
        let (inj, _) = model.inject(x)
        var z = rng.gaussian(shape: model.stateShape(batch: batch))
        let flops = config.flopsPerEvaluation * Double(batch)
        let f = BenchCommand.bestRate(flops: flops, budget: seconds) { z = model.map(z, inj) }
        let samplesPerSecond = f * 1e9 / config.flopsPerEvaluation
        let (zOut, cache) = model.f(z, inj)
        model.parameters.accumulatesGradients = false
        let vjp = BenchCommand.bestRate(flops: 2 * flops, budget: seconds) { _ = model.fBackward(zOut, cache) }
        let m = batch * 196
        let gemm1 = BenchCommand.gemmRate(m: m, n: 64, k: 288, budget: seconds)
        let gemm2 = BenchCommand.gemmRate(m: m, n: 32, k: 576, budget: seconds)
        let gemmTime = (2.0 * Double(m) * 64 * 288) / gemm1 + (2.0 * Double(m) * 32 * 576) / gemm2
        let gemmRate = 2 * (2.0 * Double(m) * 64 * 288) / gemmTime
        let cores = Double(BLAS.threadCount)
        let peak = peakPerCore ?? (Conv2D.directKernelName == "avx512" ? 2 * 117 : 117)
        print(
            "DEQ-S f (C=32, E=2, G=8, 14×14), batch \(batch), \(BLAS.threadCount) BLAS thread(s), core \(BLAS.coreName), "
                + "direct-convolution kernel \(Conv2D.directKernelName)")
        print(
            String(
                format:
                    "f forward: %.0f samples·evaluations/s, %.1f GFLOP/s = %.2f of the sgemm rate of its two GEMMs (%.1f), %.2f of the FMA peak (%.0f)",
                samplesPerSecond, f, f / gemmRate, gemmRate, f / (peak * cores), peak * cores))
        print(String(format: "f vector–Jacobian product (dz only): %.1f GFLOP/s (counted as 2× forward FLOPs)", vjp))
        if let threads, threads > 1 {
            // The way certify/predict use several cores: independent batch slices on threads with one BLAS thread
            // each (in-process workers), instead of one GEMM split over BLAS threads.
            BLAS.setThreadCount(1)
            let parts = (0..<threads).map { k in (batch * k / threads)..<(batch * (k + 1) / threads) }
            let slices = parts.map { (z.slice(rows: $0), inj.slice(rows: $0)) }
            let models = try (0..<threads).map { _ in try DEQSmall(config, seed: 1) }
            let split = BenchCommand.bestRate(flops: flops, budget: seconds) {
                DispatchQueue.concurrentPerform(iterations: threads) { k in _ = models[k].map(slices[k].0, slices[k].1) }
            }
            print(
                String(
                    format:
                        "f forward, batch split over %d threads × 1 BLAS thread: %.0f samples·evaluations/s, %.1f GFLOP/s = %.2f of the FMA peak (%.0f)",
                    threads, split * 1e9 / config.flopsPerEvaluation, split, split / (peak * Double(threads)),
                    peak * Double(threads)))
            BLAS.setThreadCount(threads)
        }
        // Breakdown of one forward evaluation.
        let p = model.parameters
        let c1 = Convolution2D("bench.c1", inChannels: 32, outChannels: 64, kernelSize: 3, padding: 1, bias: false, in: p)
        let g1 = GroupNormalization("bench.g1", channels: 64, groups: 8, in: p)
        let c2 = Convolution2D("bench.c2", inChannels: 64, outChannels: 32, kernelSize: 3, padding: 1, bias: false, in: p)
        let head = Convolution2D(
            "bench.head", inChannels: 32, outChannels: 64, kernelSize: 3, stride: 2, padding: 1, bias: false, in: p)
        let g2 = GroupNormalization("bench.g2", channels: 32, groups: 8, in: p)
        let a1 = c1(z, p), r1 = g1.forward(a1, p, adding: [], relu: true).output, a2 = c2(r1, p)
        func ms(_ body: () -> Void) -> Double { 1e3 / BenchCommand.bestRate(flops: 1e9, budget: seconds / 4, body) }
        /// The im2col + sgemm path of the same convolution (what `Convolution2D` used before the direct kernel).
        func viaGEMM(_ layer: Convolution2D, _ x: Tensor) -> Double {
            let g = layer.geometry(for: x), wp = layer.packedWeight(p, g)
            var y = Tensor(shape: [g.batch, g.outHeight, g.outWidth, g.outChannels])
            return ms {
                x.withUnsafeBufferPointer { px in
                    wp.withUnsafeBufferPointer { pw in
                        y.withUnsafeMutableBufferPointer { py in
                            Conv2D.forward(g, input: px.baseAddress!, packedWeight: pw.baseAddress!, bias: nil, output: py.baseAddress!)
                        }
                    }
                }
            }
        }
        let rows: [(String, Double)] = [
            ("conv1 3×3 32→64, direct kernel", ms { _ = c1(z, p) }),
            ("conv1 3×3 32→64, im2col + sgemm (for comparison)", viaGEMM(c1, z)),
            ("GroupNorm 64 ch + ReLU (fused)", ms { _ = g1.forward(a1, p, adding: [], relu: true) }),
            ("conv2 3×3 64→32, direct kernel", ms { _ = c2(r1, p) }),
            ("conv2 3×3 64→32, im2col + sgemm (for comparison)", viaGEMM(c2, r1)),
            ("GroupNorm 32 ch + residual sum + ReLU (fused)", ms { _ = g2.forward(a2, p, adding: [z, inj], relu: true) }),
            ("GroupNorm 32 ch", ms { _ = g2(z, p) }),
            ("head conv 3×3 stride 2 32→64 (once per image; not in f), direct kernel", ms { _ = head(z, p) }),
            ("whole f", ms { _ = model.map(z, inj) }),
        ]
        print("\n| operation | ms per call |\n|---|---|")
        for (name, t) in rows { print("| \(name) | \(String(format: "%.2f", t)) |") }
    }
}
