import TensorCore

// Per-sample bookkeeping shared by the three solvers (B = batch, D = elements per sample).
// Every f-evaluation is reported with `record`, which measures each running sample's residual at the point fed to
// f, updates the value the sample will return, and freezes converged or diverged samples. Only per-sample
// arithmetic happens here, so the bookkeeping of a sample never depends on its batch mates.

/// Bookkeeping of one batched solve (internal; the solvers own the iteration, this owns the per-sample state).
struct SolverSampleTracker {
    let batch: Int
    let dim: Int
    let config: SolverConfig

    /// The returned values of samples whose value is not `latest`'s row, [B·D] (allocated when first needed).
    private var result: [Float] = []
    /// The output of the last evaluation, kept by reference (no copy per evaluation).
    private var latest: Tensor?
    /// Sample i returns row i of `latest` (not copied into `result` yet). A sample's row is copied into `result`
    /// when it freezes or when a later evaluation does not replace its value (`returnLowestResidual`); `finish`
    /// returns `latest` itself when every sample is pending, so a solve that ends with every sample running copies
    /// nothing.
    private var pending: [Bool]
    /// Frozen sample i's returned value is not finite (it is fed zeros).
    private var feedsZeros: [Bool]
    /// Sample still iterating (not converged, not diverged).
    private(set) var running: [Bool]
    private(set) var runningCount: Int
    private var converged: [Bool]
    private var diverged: [Bool]
    private var finalAbs: [Float]
    private var finalRel: [Float]
    private var lowestAbs: [Float]
    private var lowestRel: [Float]
    private var lowestStop: [Float]  // lowest finite residual in the stop mode (drives the returned iterate)
    private var lowestEvaluation: [Int]
    private var sampleSteps: [Int]
    private var sampleEvaluations: [Int]
    private var measurements: [Int]
    private var stallReference: [Float]  // stop-mode residual at the last improvement by ≥ 1 %
    private var lastImprovement: [Int]  // measurement index of that improvement
    private var traceSteps: [Int] = []
    private var traceEvaluations: [Int] = []
    private var traceAbs: [[Float]] = []
    private var traceRel: [[Float]] = []
    private(set) var steps = 0
    private(set) var evaluations = 0

    init(batch: Int, dim: Int, config: SolverConfig) {
        self.batch = batch
        self.dim = dim
        self.config = config
        pending = [Bool](repeating: false, count: batch)
        feedsZeros = [Bool](repeating: false, count: batch)
        running = [Bool](repeating: true, count: batch)
        runningCount = batch
        converged = [Bool](repeating: false, count: batch)
        diverged = [Bool](repeating: false, count: batch)
        finalAbs = [Float](repeating: .infinity, count: batch)
        finalRel = [Float](repeating: .infinity, count: batch)
        lowestAbs = [Float](repeating: .infinity, count: batch)
        lowestRel = [Float](repeating: .infinity, count: batch)
        lowestStop = [Float](repeating: .infinity, count: batch)
        lowestEvaluation = [Int](repeating: 0, count: batch)
        sampleSteps = [Int](repeating: 0, count: batch)
        sampleEvaluations = [Int](repeating: 0, count: batch)
        measurements = [Int](repeating: 0, count: batch)
        stallReference = [Float](repeating: .infinity, count: batch)
        lastImprovement = [Int](repeating: -1, count: batch)
    }

    /// True when every sample is frozen (the batch may stop).
    var allFrozen: Bool { runningCount == 0 }

    /// Records one evaluation F = f(X) of the whole batch, made during solver step `step`.
    /// `x`, `fx`: [B, …] with B·D elements. Only running samples are measured (‖F − X‖², ‖F‖² by `residualSums`);
    /// frozen ones repeat their final residual in the trace.
    mutating func record(input x: Tensor, output fx: Tensor, step: Int) {
        precondition(x.count == batch * dim && fx.count == batch * dim)
        let dim = dim
        x.withUnsafeBufferPointer { xp in
            fx.withUnsafeBufferPointer { fp in
                record(output: fx, step: step) { i in
                    residualSums(xp.baseAddress! + i * dim, fp.baseAddress! + i * dim, dim)
                }
            }
        }
    }

    /// The same as `record(input:output:step:)` for a solver that has measured the residual sums itself:
    /// `sums[i]` = (‖Fᵢ − Xᵢ‖², ‖Fᵢ‖²) exactly as `residualSums` computes them, for every sample running before
    /// this call (other entries are not read).
    mutating func record(output fx: Tensor, step: Int, sums: UnsafeBufferPointer<(diff: Double, norm: Double)>) {
        precondition(sums.count == batch)
        record(output: fx, step: step) { sums[$0] }
    }

    @inline(__always)
    private mutating func record(output fx: Tensor, step: Int, sums: (Int) -> (diff: Double, norm: Double)) {
        precondition(fx.count == batch * dim)
        evaluations += 1
        steps = step
        let tolerance = config.tolerance
        let previous = latest
        latest = fx
        for i in 0..<batch where running[i] {
            let (sumSq, normSq) = sums(i)
            let absDouble = sumSq.squareRoot()
            let abs = Float(absDouble)
            let rel = Float(absDouble / (normSq.squareRoot() + 1e-8))
            let stopValue = config.stopMode == .absolute ? abs : rel
            finalAbs[i] = abs
            finalRel[i] = rel
            if abs.isFinite && abs < lowestAbs[i] { lowestAbs[i] = abs }
            if rel.isFinite && rel < lowestRel[i] { lowestRel[i] = rel }
            let isNewLowest = stopValue.isFinite && stopValue < lowestStop[i]
            if isNewLowest {
                lowestStop[i] = stopValue
                lowestEvaluation[i] = evaluations
            }
            if stopValue.isFinite && (stallReference[i] == .infinity || stopValue < 0.99 * stallReference[i]) {
                stallReference[i] = stopValue
                lastImprovement[i] = measurements[i]
            }
            measurements[i] += 1
            // Returned value: the last f output, or the one at the lowest residual (the last one until a finite
            // residual has been seen, so a sample that never had one returns its last output, flagged diverged).
            if !config.returnLowestResidual || isNewLowest || !lowestStop[i].isFinite {
                pending[i] = true  // row i of fx (= latest)
            } else if pending[i] {
                store(row: i, of: previous!)  // keeps an earlier output: copy it before `previous` is let go
            }
            sampleSteps[i] = step
            sampleEvaluations[i] = evaluations
            if !abs.isFinite || !rel.isFinite || abs > config.divergenceThreshold {
                diverged[i] = true
                freeze(i)
            } else if stopValue < tolerance {
                converged[i] = true
                freeze(i)
            }
        }
        if config.recordTrace {
            traceSteps.append(step)
            traceEvaluations.append(evaluations)
            traceAbs.append(finalAbs)
            traceRel.append(finalRel)
        }
    }

    /// Copies row i of `source` into `result` (allocating it on first use); sample i is no longer pending.
    private mutating func store(row i: Int, of source: Tensor) {
        if result.isEmpty { result = [Float](repeating: 0, count: batch * dim) }
        let base = i * dim, dim = dim
        source.withUnsafeBufferPointer { s in
            result.withUnsafeMutableBufferPointer { r in
                (r.baseAddress! + base).update(from: s.baseAddress! + base, count: dim)
            }
        }
        pending[i] = false
    }

    /// Stops updating sample `i`: its returned value (copied into `result`) and statistics are final.
    private mutating func freeze(_ i: Int) {
        running[i] = false
        runningCount -= 1
        if pending[i] { store(row: i, of: latest!) }
        let base = i * dim
        var finite = true
        for j in base..<(base + dim) where !result[j].isFinite { finite = false; break }
        feedsZeros[i] = !finite
    }

    /// Writes what a frozen sample `i` is fed in later evaluations: its returned value if finite, else zeros.
    func feedFrozen(_ i: Int, into buffer: UnsafeMutableBufferPointer<Float>) {
        precondition(!running[i])
        let base = i * dim
        if feedsZeros[i] {
            (buffer.baseAddress! + base).update(repeating: 0, count: dim)
        } else {
            result.withUnsafeBufferPointer { r in
                (buffer.baseAddress! + base).update(from: r.baseAddress! + base, count: dim)
            }
        }
    }

    /// The returned tensor (shape of z0) and the statistics.
    mutating func finish(shape: [Int], kind: SolverKind) -> (z: Tensor, stats: SolverStats) {
        var stalled = [Bool](repeating: false, count: batch)
        for i in 0..<batch where !converged[i] && !diverged[i] {
            stalled[i] = measurements[i] - 1 - lastImprovement[i] >= config.stallWindow
        }
        let trace =
            config.recordTrace
            ? SolverTrace(
                steps: traceSteps, evaluations: traceEvaluations,
                absoluteResidual: traceAbs, relativeResidual: traceRel)
            : nil
        let stats = SolverStats(
            kind: kind, steps: steps, evaluations: evaluations,
            sampleSteps: sampleSteps, sampleEvaluations: sampleEvaluations,
            finalAbsoluteResidual: finalAbs, finalRelativeResidual: finalRel,
            lowestAbsoluteResidual: lowestAbs, lowestRelativeResidual: lowestRel,
            lowestResidualEvaluation: lowestEvaluation,
            converged: converged, diverged: diverged, stalled: stalled, trace: trace)
        guard let latest else { return (Tensor(shape: shape, scalars: result), stats) }
        if !pending.contains(false) { return (latest.reshaped(shape), stats) }
        for i in 0..<batch where pending[i] { store(row: i, of: latest) }
        return (Tensor(shape: shape, scalars: result), stats)
    }
}
