/// What a fixed-point solve did, per batch and per sample (all per-sample arrays have B entries).
///
/// A *measurement* is one f-evaluation seen by one sample: the residual r = f(x) − x at the point x fed to f.
/// Per-sample entries stop changing once the sample is frozen (converged or diverged), so they are the same
/// whether the sample was solved alone or in a batch.
public struct SolverStats: Sendable, Equatable {
    /// The solver that ran.
    public var kind: SolverKind
    /// Solver steps the batch took (naive: evaluations; Anderson: mixing steps after the 2 start evaluations;
    /// Broyden: quasi-Newton steps after the first evaluation). At most `maxSteps`.
    public var steps: Int
    /// Calls of f on the whole batch (each call evaluates all B samples).
    public var evaluations: Int
    /// Per sample: the step at which the sample was frozen, or the last step if it never was.
    public var sampleSteps: [Int]
    /// Per sample: the evaluations the sample needed (at its freeze, or all of them): its cost had it run alone.
    public var sampleEvaluations: [Int]
    /// Per sample: ‖f(x) − x‖₂ at the sample's last measurement.
    public var finalAbsoluteResidual: [Float]
    /// Per sample: ‖f(x) − x‖₂ / (‖f(x)‖₂ + 1e-8) at the sample's last measurement.
    public var finalRelativeResidual: [Float]
    /// Per sample: the lowest finite absolute residual measured (+∞ if none was finite).
    public var lowestAbsoluteResidual: [Float]
    /// Per sample: the lowest finite relative residual measured (+∞ if none was finite).
    public var lowestRelativeResidual: [Float]
    /// Per sample: the evaluation count at which the lowest residual in the stop mode was measured (0 if none).
    public var lowestResidualEvaluation: [Int]
    /// Per sample: residual in the stop mode fell below the tolerance.
    public var converged: [Bool]
    /// Per sample: a residual was non-finite (NaN/Inf in z0, an iterate or f's output) or exceeded the
    /// divergence threshold. The sample's returned value is then not a fixed point (it may be non-finite).
    public var diverged: [Bool]
    /// Per sample: neither converged nor diverged, and none of the last `stallWindow` measurements improved the
    /// best residual before them by at least 1 %.
    public var stalled: [Bool]
    /// The residual history, when `recordTrace` was set.
    public var trace: SolverTrace?

    /// Number of samples in the batch.
    public var batchSize: Int { converged.count }
    /// True when every sample converged.
    public var allConverged: Bool { converged.allSatisfy { $0 } }
    /// True when some sample diverged.
    public var anyDiverged: Bool { diverged.contains(true) }
}

/// Residuals of every sample at every f-evaluation (entry e ↔ the e-th evaluation).
///
/// A sample frozen before entry e repeats its final residual there, as the published solvers pad their traces.
public struct SolverTrace: Sendable, Equatable {
    /// Entry e: the solver step it belongs to (0 for the start evaluations of Anderson and Broyden).
    public var steps: [Int]
    /// Entry e: the evaluation count after that evaluation (1, 2, 3, …).
    public var evaluations: [Int]
    /// Entry e, sample i: ‖f(x) − x‖₂.
    public var absoluteResidual: [[Float]]
    /// Entry e, sample i: ‖f(x) − x‖₂ / (‖f(x)‖₂ + 1e-8).
    public var relativeResidual: [[Float]]
}
