import TensorCore

// Fixed-point solvers for z* = f(z*), batched with per-sample arithmetic.
// Names used in this module's solver files: B = batch size (first axis), D = elements per sample
// (count / B), T = config.maxSteps, m = Anderson memory, X = iterates fed to f, F = f(X), G = F − X.

/// Which fixed-point solver `solveFixedPoint` runs.
public enum SolverKind: String, Sendable, CaseIterable, Codable {
    /// Plain fixed-point iteration z ← f(z): T steps cost T f-evaluations.
    case naive
    /// Anderson acceleration (type II, regularised, as in locuslab/deq and torchdeq): T steps cost T + 2 evaluations.
    case anderson
    /// Broyden's good method on g(z) = f(z) − z without line search: T steps cost T + 1 evaluations.
    case broyden

    /// Parses a name as given on a command line or in a manifest (`naive`, `anderson`, `broyden`).
    public init(parsing name: String) throws(EquilibriumError) {
        guard let kind = SolverKind(rawValue: name.lowercased()) else {
            throw .unknownName(field: "solver", value: name, allowed: SolverKind.allCases.map(\.rawValue))
        }
        self = kind
    }
}

/// Which residual the stopping test (and the choice of the lowest-residual iterate) uses.
public enum StopMode: String, Sendable, CaseIterable, Codable {
    /// abs = ‖f(z) − z‖₂ per sample.
    case absolute
    /// rel = ‖f(z) − z‖₂ / (‖f(z)‖₂ + 1e-8) per sample.
    case relative
}

/// Configuration of a fixed-point solve (a value type; validate input from files or the CLI with `validate()`).
///
/// The stopping rule: every time f is evaluated, each still-running sample's residual (in `stopMode`) is measured
/// at the point f was evaluated; a sample whose residual is `< tolerance` is *converged* and frozen (its returned
/// value no longer changes); a sample whose absolute residual is non-finite or `> divergenceThreshold` is *diverged*
/// and frozen. The batch stops when every sample is frozen or after `maxSteps` steps. `tolerance = 0` disables early
/// stopping, so the evaluation counts are exactly T (naive), T + 2 (Anderson), T + 1 (Broyden).
public struct SolverConfig: Sendable, Equatable, Codable {
    /// The solver.
    public var kind: SolverKind
    /// T, the number of solver steps (≥ 1). What a step costs depends on `kind` (see `SolverKind`).
    public var maxSteps: Int
    /// Stop a sample when its residual in `stopMode` is below this (default 1e-3; 0 never stops early).
    public var tolerance: Float
    /// Absolute or relative residual for the stopping test and for "lowest residual".
    public var stopMode: StopMode
    /// Anderson: m, the number of past (X, F) pairs mixed (default 6).
    public var andersonMemory: Int
    /// Anderson: λ, Tikhonov regularisation added to GGᵀ (default 1e-4, unscaled as in the published code).
    public var andersonLambda: Double
    /// Anderson: add λ·tr(GGᵀ)/n instead of λ (scale-invariant; default false = the published behaviour).
    /// With the unscaled λ, once the residuals satisfy ‖Gᵢ‖² ≪ λ the regulariser dominates, the weights tend to
    /// 1/n and the step to the plain average of the last n outputs, which converges more slowly than naive
    /// iteration (measured on the tests' linear map: tolerance 1e-4 absolute costs 90–165 evaluations against
    /// naive 90–98, while the scaled λ needs about 20). Relevant for absolute tolerances on small residuals.
    public var andersonScaleLambda: Bool
    /// Anderson: β, mixing (damping) parameter; X_new = β Σ aᵢFᵢ + (1 − β) Σ aᵢXᵢ (default 1).
    public var andersonBeta: Double
    /// Return, per sample, f's output at the lowest-residual iterate (training) instead of the last one
    /// (certification, the default).
    public var returnLowestResidual: Bool
    /// Record the residual of every sample at every f-evaluation in `SolverStats.trace`.
    public var recordTrace: Bool
    /// A sample is diverged when its absolute residual ‖f(z) − z‖ exceeds this (in the units of z), or is not finite.
    public var divergenceThreshold: Float
    /// A sample that ends neither converged nor diverged is *stalled* when none of its last `stallWindow`
    /// residual measurements (in `stopMode`) improved on the best residual before them by at least 1 %.
    public var stallWindow: Int

    /// A configuration with these defaults (docs/models.md §1: tolerance 1e-3, m = 6, λ = 1e-4, β = 1, last iterate).
    public init(
        kind: SolverKind,
        maxSteps: Int,
        tolerance: Float = 1e-3,
        stopMode: StopMode = .absolute,
        andersonMemory: Int = 6,
        andersonLambda: Double = 1e-4,
        andersonBeta: Double = 1,
        andersonScaleLambda: Bool = false,
        returnLowestResidual: Bool = false,
        recordTrace: Bool = false,
        divergenceThreshold: Float = 1e6,
        stallWindow: Int = 10
    ) {
        self.kind = kind
        self.maxSteps = maxSteps
        self.tolerance = tolerance
        self.stopMode = stopMode
        self.andersonMemory = andersonMemory
        self.andersonLambda = andersonLambda
        self.andersonBeta = andersonBeta
        self.andersonScaleLambda = andersonScaleLambda
        self.returnLowestResidual = returnLowestResidual
        self.recordTrace = recordTrace
        self.divergenceThreshold = divergenceThreshold
        self.stallWindow = stallWindow
    }

    /// Throws `EquilibriumError.invalidConfiguration` naming the first field outside its domain.
    public func validate() throws(EquilibriumError) {
        func bad(_ field: String, _ value: Any, _ reason: String) -> EquilibriumError {
            .invalidConfiguration(field: field, value: "\(value)", reason: reason)
        }
        if maxSteps < 1 { throw bad("maxSteps", maxSteps, "must be at least 1") }
        if !(tolerance >= 0) || tolerance.isInfinite { throw bad("tolerance", tolerance, "must be finite and ≥ 0") }
        if andersonMemory < 1 { throw bad("andersonMemory", andersonMemory, "must be at least 1") }
        if !(andersonLambda >= 0) || andersonLambda.isInfinite {
            throw bad("andersonLambda", andersonLambda, "must be finite and ≥ 0")
        }
        if !andersonBeta.isFinite || andersonBeta <= 0 { throw bad("andersonBeta", andersonBeta, "must be finite and > 0") }
        if !(divergenceThreshold > 0) { throw bad("divergenceThreshold", divergenceThreshold, "must be > 0") }
        if stallWindow < 1 { throw bad("stallWindow", stallWindow, "must be at least 1") }
    }
}

/// Solves z = f(z) for every sample of a batch, starting from `z0` (a warm start, or zeros for a cold start).
///
/// - Parameters:
///   - f: maps a batch to a batch of the same shape; axis 0 is the batch (B samples of D = count / B elements).
///     f must act on each sample independently (as a conv block with GroupNorm does). It is called on the whole
///     batch every time, also for samples already frozen (they are fed their returned value, or zeros if that is
///     not finite), so `stats.evaluations` is exactly the number of calls.
///   - z0: the starting point, shape `[B, ...]`, B ≥ 1, D ≥ 1.
///   - config: the solver and its parameters (must satisfy `config.validate()`; a violation is a programmer error).
/// - Returns: `z`, shape of `z0`: per sample, the output f(x) of the evaluation that measured the sample's last
///   residual (or, with `returnLowestResidual`, its lowest residual in `stopMode`); so `‖z − x‖` is the residual
///   reported in `stats`. `stats` holds the counts, residuals and flags; non-convergence is data, never a trap.
/// - Guarantee: all arithmetic outside f is per sample and deterministic, so a sample's `z` and its per-sample
///   statistics do not depend on which other samples share its batch (bitwise, when f itself is per-sample exact).
///   Per-sample residual norms and the small Anderson / Broyden systems are accumulated in Double.
///
/// Step counting (T = `config.maxSteps`, `tolerance = 0`):
/// - naive: z_{k} = f(z_{k−1}), k = 1…T: T evaluations; returns f(z_{T−1}) (the last f output).
/// - anderson: X₀ = z0, F₀ = f(X₀), X₁ = F₀, F₁ = f(X₁) (2 evaluations, "step 0"), then steps k = 1…T each mix the
///   last n = min(k + 1, m) pairs and evaluate F = f(X_new): T + 2 evaluations; returns the last F (see
///   `AndersonAcceleration` for why T = 1 is three evaluations and one real mixing step).
/// - broyden: g(z0) (1 evaluation), then T quasi-Newton steps z ← z − J⁻¹g(z) (1 evaluation each): T + 1
///   evaluations; returns f at the last iterate.
public func solveFixedPoint(
    _ f: (Tensor) throws -> Tensor,
    initial z0: Tensor,
    config: SolverConfig
) rethrows -> (z: Tensor, stats: SolverStats) {
    do { try config.validate() } catch { preconditionFailure("solveFixedPoint: \(error)") }
    precondition(z0.rank >= 1 && z0.shape[0] >= 1, "solveFixedPoint: z0 needs a batch axis with B ≥ 1, got \(z0.shape)")
    precondition(
        z0.count >= z0.shape[0] && z0.count % z0.shape[0] == 0,
        "solveFixedPoint: z0 of shape \(z0.shape) has no elements per sample")
    switch config.kind {
    case .naive: return try NaiveIteration.solve(f, initial: z0, config: config)
    case .anderson: return try AndersonAcceleration.solve(f, initial: z0, config: config)
    case .broyden: return try BroydenMethod.solve(f, initial: z0, config: config)
    }
}

/// Calls f and checks the shape contract (same shape out as in).
@inline(__always)
func evaluateChecked(_ f: (Tensor) throws -> Tensor, _ x: Tensor) rethrows -> Tensor {
    let y = try f(x)
    precondition(y.shape == x.shape, "solveFixedPoint: f returned shape \(y.shape) for input \(x.shape)")
    return y
}
