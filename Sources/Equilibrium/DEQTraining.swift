import NeuralNet
import TensorCore

/// How gradients pass through the equilibrium (docs/models.md §1).
public enum DEQBackward: Sendable, Equatable {
    /// Implicit differentiation: solve the adjoint fixed point g = (∂f/∂z)ᵀg + ∂L/∂z* with the given solver
    /// (vector–Jacobian products of f at z*), then backpropagate g through one application of f.
    case implicit(SolverConfig)
    /// Phantom gradient: unroll `steps` damped applications z ← (1 − λ)z + λ·f(z) from z* and backpropagate
    /// through them only (Jacobian-free backprop is steps = 1, λ = 1).
    case phantom(steps: Int, damping: Float)
}

/// Settings of one DEQ training step.
public struct DEQTrainingConfig: Sendable {
    /// Forward solve from zero (Anderson ≈ 15–20 steps, lowest-residual iterate).
    public var forwardSolver: SolverConfig
    public var backward: DEQBackward
    /// Weight of the Jacobian regulariser (0 disables it).
    public var jacobianWeight: Float
    /// Central-difference step h for Jε (in state units).
    public var jacobianStep: Float

    public init(
        forwardSolver: SolverConfig = SolverConfig(
            kind: .anderson, maxSteps: 18, tolerance: 1e-3,
            stopMode: .relative, returnLowestResidual: true),
        backward: DEQBackward = .implicit(
            SolverConfig(
                kind: .anderson, maxSteps: 10, tolerance: 1e-3,
                stopMode: .relative, returnLowestResidual: true)),
        jacobianWeight: Float = 1.0, jacobianStep: Float = 1e-2
    ) {
        self.forwardSolver = forwardSolver; self.backward = backward
        self.jacobianWeight = jacobianWeight; self.jacobianStep = jacobianStep
    }
}

/// What one training step measured.
public struct DEQStepResult: Sendable {
    public var loss: Float
    public var correct: Int
    public var batch: Int
    /// Mean relative residual ‖f(z) − z‖/‖f(z)‖ of the forward solve.
    public var forwardResidual: Float
    public var forwardEvaluations: Int
    /// Mean relative residual of the adjoint solve (implicit mode), else 0.
    public var adjointResidual: Float
    /// Hutchinson estimate of ‖∂f/∂z‖²_F / dim (0 when the regulariser is off this step).
    public var jacobianNorm: Float
}

extension EquilibriumModel {
    /// Loss and parameter gradients for one batch: cross-entropy of head(z*) with z* = f(z*; inject(x)).
    /// Gradients are ADDED to `parameters.gradients` (zero them first). `x` is the (noise-augmented) batch
    /// [B, H, W, c]; `jacobianNoise` supplies ε for the regulariser (nil disables it for this step).
    ///
    /// Jacobian regulariser: R = w·(1/B) Σ_b ‖J_b ε_b‖²/dim, a Hutchinson estimate of ‖∂f/∂z‖²_F/dim at z*
    /// (Bai et al. 2021), with Jε computed by central differences (f(z* + hε) − f(z* − hε))/2h so that its
    /// gradient needs only first-order backward passes of f (error O(h²)); z* is held constant in R.
    ///
    /// `loss` replaces the cross-entropy: given the logits [B, K] and the equilibrium state it was computed from
    /// (f(z*) [B, …]), it returns the mean loss, dL/dlogits and optionally dL/dstate (e.g. knowledge
    /// distillation with a hidden-state term); the state gradient joins the head's before the adjoint solve.
    public func trainingStep(
        _ x: Tensor, labels: [Int], config: DEQTrainingConfig,
        jacobianNoise: Tensor? = nil,
        loss customLoss: ((_ logits: Tensor, _ state: Tensor) -> (loss: Float, logitsGradient: Tensor, stateGradient: Tensor?))? = nil
    )
        -> DEQStepResult
    {
        func lossAndGradients(_ lg: Tensor, _ state: Tensor) -> (Float, Tensor, Tensor?) {
            if let customLoss { return customLoss(lg, state) }
            let (l, g) = Loss.crossEntropy(logits: lg, labels: labels)
            return (l, g, nil)
        }
        let p = parameters
        let b = x.shape[0]
        let (inj, injCache) = inject(x)
        let (zStar, fwd) = solveFixedPoint({ map($0, inj) }, initial: zeroState(batch: b), config: config.forwardSolver)
        var gInjection = Tensor(shape: inj.shape)
        var logits: Tensor
        var loss: Float
        var adjointResidual: Float = 0

        switch config.backward {
        case .implicit(let adjointSolver):
            let (zOut, fCache) = f(zStar, inj)
            let (lg, hCache) = head(zOut)
            logits = lg
            let (l, gLogits, gState) = lossAndGradients(lg, zOut)
            loss = l
            var gz = headBackward(gLogits, hCache)
            if let gState { gz += gState }
            // Adjoint: g = Jᵀg + gz, by the same fixed-point solvers (VJPs only; no parameter gradients).
            p.accumulatesGradients = false
            let (g, adj) = solveFixedPoint({ fBackward($0, fCache).state + gz }, initial: gz, config: adjointSolver)
            p.accumulatesGradients = true
            adjointResidual = adj.finalRelativeResidual.reduce(0, +) / Float(b)
            let (_, gi) = fBackward(g, fCache)
            gInjection += gi
        case .phantom(let steps, let lambda):
            precondition(steps >= 1 && lambda > 0 && lambda <= 1, "phantom gradient needs steps ≥ 1 and λ ∈ (0, 1]")
            var z = zStar
            var caches: [LayerCache] = []
            for _ in 0..<steps {
                let (fz, c) = f(z, inj)
                caches.append(c)
                z = lambda == 1 ? fz : (1 - lambda) * z + lambda * fz
            }
            let (lg, hCache) = head(z)
            logits = lg
            let (l, gLogits, gState) = lossAndGradients(lg, z)
            loss = l
            var g = headBackward(gLogits, hCache)
            if let gState { g += gState }
            for c in caches.reversed() {
                let (gzPrev, gi) = fBackward(lambda == 1 ? g : lambda * g, c)
                gInjection += gi
                g = lambda == 1 ? gzPrev : (1 - lambda) * g + gzPrev
            }
        }

        var jacobianNorm: Float = 0
        if let eps = jacobianNoise, config.jacobianWeight > 0 {
            precondition(eps.shape == zStar.shape, "Jacobian noise \(eps.shape) vs state \(zStar.shape)")
            let h = config.jacobianStep
            var zp = zStar, zm = zStar
            zp.add(eps, scaledBy: h)
            zm.add(eps, scaledBy: -h)
            let (fp, cp) = f(zp, inj)
            let (fm, cm) = f(zm, inj)
            let jv = (1 / (2 * h)) * (fp - fm)  // ≈ J ε, per sample
            let dim = Float(zStar.count / b)
            jacobianNorm = Float(jv.squaredNorm()) / (dim * Float(b))
            loss += config.jacobianWeight * jacobianNorm
            // dR/df± = ±w·2·Jε/(2h·dim·B)
            let scale = config.jacobianWeight / (h * dim * Float(b))
            let (_, gip) = fBackward(scale * jv, cp)
            let (_, gim) = fBackward((-scale) * jv, cm)
            gInjection += gip
            gInjection += gim
        }
        _ = injectBackward(gInjection, injCache)

        let predicted = logits.argmaxRows()
        let correct = zip(predicted, labels).filter { $0 == $1 }.count
        return DEQStepResult(
            loss: loss, correct: correct, batch: b,
            forwardResidual: fwd.finalRelativeResidual.reduce(0, +) / Float(b),
            forwardEvaluations: fwd.evaluations, adjointResidual: adjointResidual,
            jacobianNorm: jacobianNorm)
    }
}
