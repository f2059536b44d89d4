import TensorCore

/// Plain fixed-point iteration (the "naive" solver of locuslab/deq): z_k = f(z_{k−1}), k = 1…T.
///
/// Step k evaluates f once at z_{k−1} and measures the residual f(z_{k−1}) − z_{k−1}; T steps cost exactly
/// T f-evaluations and return the last f output f(z_{T−1}) (the published `naive` returns `fx` the same way),
/// so Naive-1 returns f(z0) — the serialized-smoothing update z ← f(z_prev). Per sample, iteration stops early when
/// the sample is frozen (converged or diverged); the batch stops when all are.
enum NaiveIteration {
    static func solve(
        _ f: (Tensor) throws -> Tensor,
        initial z0: Tensor,
        config: SolverConfig
    ) rethrows -> (z: Tensor, stats: SolverStats) {
        let batch = z0.shape[0]
        let dim = z0.count / batch
        var tracker = SolverSampleTracker(batch: batch, dim: dim, config: config)
        var x = z0
        for step in 1...config.maxSteps {
            if tracker.allFrozen { break }
            let fx = try evaluateChecked(f, x)
            tracker.record(input: x, output: fx, step: step)
            if step == config.maxSteps || tracker.allFrozen { break }
            // Next input: f's output for running samples (shared, not copied), the frozen value (or zeros) for
            // frozen ones.
            x = fx
            if tracker.runningCount < batch {
                x.withUnsafeMutableBufferPointer { xp in
                    for i in 0..<batch where !tracker.running[i] { tracker.feedFrozen(i, into: xp) }
                }
            }
        }
        return tracker.finish(shape: z0.shape, kind: .naive)
    }
}
