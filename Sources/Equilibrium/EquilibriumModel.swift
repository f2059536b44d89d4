import NeuralNet
import TensorCore

/// What solvers, training and certification need from any DEQ (DEQ-S now, multiscale MDEQ later):
/// an input injection, the equilibrium map f(z; x̃) on a batch, its vector–Jacobian products, and a head.
///
/// Shapes: x [B, H, W, c] in [0,1]; x̃ and z have the model's state shape [B, …] (`stateShape(batch:)`);
/// logits [B, classes].
public protocol EquilibriumModel: Sendable {
    var parameters: ParameterStore { get }
    var classes: Int { get }
    /// Shape of the state z for a batch of B.
    func stateShape(batch: Int) -> [Int]
    /// x̃ = inject(x): everything that does not depend on z (computed once per input).
    func inject(_ x: Tensor) -> (injection: Tensor, cache: LayerCache)
    /// f(z; x̃) with a cache for `fBackward`.
    func f(_ z: Tensor, _ injection: Tensor) -> (output: Tensor, cache: LayerCache)
    /// f(z; x̃) without a cache (solver iterations); the same values as `f(z, x̃).output`, bit for bit.
    func map(_ z: Tensor, _ injection: Tensor) -> Tensor
    /// Given dL/df at a cached point: (dL/dz, dL/dx̃); accumulates dL/dθ when parameters.accumulatesGradients.
    func fBackward(_ gradOutput: Tensor, _ cache: LayerCache) -> (state: Tensor, injection: Tensor)
    /// Backward of `inject` to the parameters (and the input).
    func injectBackward(_ gradInjection: Tensor, _ cache: LayerCache) -> Tensor
    /// logits = head(z).
    func head(_ z: Tensor) -> (logits: Tensor, cache: LayerCache)
    func headBackward(_ gradLogits: Tensor, _ cache: LayerCache) -> Tensor
}

extension EquilibriumModel {
    /// f without a cache (solver iterations): the default for models without a faster inference path.
    public func map(_ z: Tensor, _ injection: Tensor) -> Tensor { f(z, injection).output }

    /// Zero state for a batch (a cold start).
    public func zeroState(batch: Int) -> Tensor { Tensor(shape: stateShape(batch: batch)) }

    /// Classify a batch: solve z* = f(z*; inject(x)) from `initial` (zeros if nil) and apply the head.
    /// Returns logits, the fixed point reached (for warm starts), and the solver statistics.
    public func classify(
        _ x: Tensor, solver: SolverConfig, initial: Tensor? = nil
    )
        -> (logits: Tensor, state: Tensor, stats: SolverStats)
    {
        let (inj, _) = inject(x)
        let z0 = initial ?? zeroState(batch: x.shape[0])
        let (z, stats) = solveFixedPoint({ map($0, inj) }, initial: z0, config: solver)
        return (head(z).logits, z, stats)
    }
}
