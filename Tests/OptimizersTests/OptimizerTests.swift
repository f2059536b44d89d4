import Testing

@testable import Optimizers

/// Run `optimizer` over the golden gradient/learning-rate sequence; the parameters after each step.
private func trajectory<O: Optimizer>(_ optimizer: O, steps: Int = OptimizerGolden.gradients.count) -> [[Float]] {
    var opt = optimizer
    var w = OptimizerGolden.initial
    var out: [[Float]] = []
    for t in 0..<steps {
        opt.step(parameters: &w, gradients: OptimizerGolden.gradients[t], learningRate: OptimizerGolden.learningRates[t])
        out.append(w)
    }
    return out
}

/// Largest |a − b| / max(1, |b|) over a trajectory.
private func maxError(_ a: [[Float]], _ b: [[Float]]) -> Float {
    precondition(a.count == b.count)
    var e: Float = 0
    for (x, y) in zip(a, b) {
        precondition(x.count == y.count)
        for (p, q) in zip(x, y) { e = max(e, abs(p - q) / max(1, abs(q))) }
    }
    return e
}

private let masked = WeightDecayMask.only([0..<OptimizerGolden.decayedCount])
/// Float rounding differs from torch's only in operation order: measured ≤ 1.2e-7 (1–2 ulps) after five steps.
private let tolerance: Float = 5e-7

@Suite("Optimizers against torch.optim golden trajectories")
struct GoldenTests {
    @Test func sgdPlain() throws {
        #expect(maxError(trajectory(try SGD()), OptimizerGolden.sgdPlain) < tolerance)
    }

    @Test func sgdMomentumDampeningDecay() throws {
        let opt = try SGD(momentum: 0.9, dampening: 0.1, weightDecay: 0.01)
        #expect(maxError(trajectory(opt), OptimizerGolden.sgdMomentumDecay) < tolerance)
    }

    @Test func sgdNesterovMaskedDecay() throws {
        let opt = try SGD(momentum: 0.9, nesterov: true, weightDecay: 0.1, decayMask: masked)
        #expect(maxError(trajectory(opt), OptimizerGolden.sgdNesterovMasked) < tolerance)
    }

    @Test func adam() throws {
        #expect(maxError(trajectory(try Adam()), OptimizerGolden.adam) < tolerance)
    }

    @Test func adamCoupledL2Masked() throws {
        let opt = try Adam(weightDecay: 0.1, decayMask: masked)
        #expect(maxError(trajectory(opt), OptimizerGolden.adamL2Masked) < tolerance)
    }

    @Test func adamW() throws {
        #expect(maxError(trajectory(try AdamW()), OptimizerGolden.adamW) < tolerance)
    }

    @Test func adamWMaskedBetasEps() throws {
        let opt = try AdamW(beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.5, decayMask: masked)
        #expect(maxError(trajectory(opt), OptimizerGolden.adamWMasked) < tolerance)
    }

    @Test("the golden cases differ from each other (so each comparison is discriminating)")
    func casesDiffer() {
        let cases = [
            OptimizerGolden.sgdPlain, OptimizerGolden.sgdMomentumDecay, OptimizerGolden.sgdNesterovMasked,
            OptimizerGolden.adam, OptimizerGolden.adamL2Masked, OptimizerGolden.adamW,
            OptimizerGolden.adamWMasked,
        ]
        for i in cases.indices {
            for j in cases.indices where j > i {
                #expect(maxError(cases[i], cases[j]) > 100 * tolerance)
            }
        }
    }

    @Test("clip_grad_norm_: norm returned, gradients scaled only when the norm exceeds maxNorm")
    func clipping() {
        for c in [OptimizerGolden.clipActive, OptimizerGolden.clipInactive] {
            var g = c.input
            let norm = clipGradientNorm(&g, maxNorm: c.maxNorm)
            #expect(abs(norm - c.norm) <= 1e-6 * c.norm)
            #expect(maxError([g], [c.clipped]) < 1e-6)
        }
        #expect(abs(globalNorm(OptimizerGolden.clipActive.clipped) - 1) < 1e-5)
        var bad: [Float] = [1, .nan, 2]
        #expect(clipGradientNorm(&bad, maxNorm: 1).isNaN)
        #expect(bad[0] == 1 && bad[2] == 2)
    }
}

@Suite("Optimizer state, masks and validation")
struct StateTests {
    @Test("state buffers are sized on the first step; stateCount reports them")
    func stateCount() throws {
        var sgd = try SGD()
        var sgdM = try SGD(momentum: 0.5)
        var adam = try Adam()
        var adamW = try AdamW()
        #expect(sgd.stateCount == 0 && sgdM.stateCount == 0 && adam.stateCount == 0 && adamW.stateCount == 0)
        var w = OptimizerGolden.initial
        let g = OptimizerGolden.gradients[0]
        sgd.step(parameters: &w, gradients: g, learningRate: 0.1)
        sgdM.step(parameters: &w, gradients: g, learningRate: 0.1)
        adam.step(parameters: &w, gradients: g, learningRate: 0.1)
        adamW.step(parameters: &w, gradients: g, learningRate: 0.1)
        #expect(sgd.stateCount == 0)
        #expect(sgdM.stateCount == 6)
        #expect(adam.stateCount == 12 && adamW.stateCount == 12)
        #expect(adam.stepCount == 1 && Set(adam.state().buffers.keys) == ["exp_avg", "exp_avg_sq"])
    }

    /// Three steps, save, restore into a fresh optimizer, two more steps: the same bits as five steps.
    private func resumeMatches<O: Optimizer>(_ make: () throws -> O, golden: [[Float]]) throws {
        var a = try make()
        var w = OptimizerGolden.initial
        for t in 0..<3 {
            a.step(parameters: &w, gradients: OptimizerGolden.gradients[t], learningRate: OptimizerGolden.learningRates[t])
        }
        let saved = a.state()
        var b = try make()
        try b.restore(saved, parameterCount: w.count)
        #expect(b.stepCount == 3 && b.state() == saved)
        var wa = w, wb = w
        for t in 3..<5 {
            a.step(parameters: &wa, gradients: OptimizerGolden.gradients[t], learningRate: OptimizerGolden.learningRates[t])
            b.step(parameters: &wb, gradients: OptimizerGolden.gradients[t], learningRate: OptimizerGolden.learningRates[t])
        }
        #expect(wa == wb)
        #expect(maxError([wb], [golden[4]]) < tolerance)
    }

    @Test("resume from saved state continues exactly")
    func resume() throws {
        try resumeMatches(
            { try SGD(momentum: 0.9, nesterov: true, weightDecay: 0.1, decayMask: masked) },
            golden: OptimizerGolden.sgdNesterovMasked)
        try resumeMatches({ try Adam(weightDecay: 0.1, decayMask: masked) }, golden: OptimizerGolden.adamL2Masked)
        try resumeMatches({ try AdamW() }, golden: OptimizerGolden.adamW)
    }

    @Test("restore rejects state of another kind, size or naming, and leaves the optimizer unchanged")
    func restoreErrors() throws {
        var adam = try Adam()
        var w = OptimizerGolden.initial
        adam.step(parameters: &w, gradients: OptimizerGolden.gradients[0], learningRate: 0.01)
        let good = adam.state()
        var fresh = try Adam()
        #expect(throws: OptimizersError.stateKindMismatch(expected: "adam", found: "adamw")) {
            try fresh.restore(OptimizerState(kind: "adamw", step: 1, buffers: good.buffers), parameterCount: 6)
        }
        #expect(throws: OptimizersError.stateSizeMismatch(name: "exp_avg", expected: 7, found: 6)) {
            try fresh.restore(good, parameterCount: 7)
        }
        var extra = good
        extra.buffers["momentum_buffer"] = [Float](repeating: 0, count: 6)
        #expect(throws: OptimizersError.unknownStateBuffer(name: "momentum_buffer")) {
            try fresh.restore(extra, parameterCount: 6)
        }
        var missing = good
        missing.buffers["exp_avg_sq"] = nil
        #expect(throws: OptimizersError.missingStateBuffer(name: "exp_avg_sq")) {
            try fresh.restore(missing, parameterCount: 6)
        }
        #expect(fresh.stepCount == 0 && fresh.stateCount == 0)
        var sgd = try SGD(momentum: 0.9)
        #expect(throws: OptimizersError.missingStateBuffer(name: "momentum_buffer")) {
            try sgd.restore(OptimizerState(kind: "sgd", step: 4, buffers: [:]), parameterCount: 6)
        }
        #expect(
            OptimizersError.stateSizeMismatch(name: "exp_avg", expected: 7, found: 6).description
                == "optimizer state: buffer 'exp_avg' has 6 elements, the model has 7 parameters")
    }

    @Test("invalid hyperparameters throw, naming the field")
    func invalidHyperparameters() {
        #expect(throws: OptimizersError.self) { try SGD(momentum: 1) }
        #expect(throws: OptimizersError.self) { try SGD(momentum: 0, nesterov: true) }
        #expect(throws: OptimizersError.self) { try Adam(beta2: 1) }
        #expect(throws: OptimizersError.self) { try AdamW(weightDecay: -0.1) }
        do {
            _ = try Adam(epsilon: -1)
            Issue.record("negative eps accepted")
        } catch {
            #expect(error.description.contains("eps"))
        }
    }

    @Test("the three mask forms agree; factors and ranges are validated")
    func masks() throws {
        let a = try WeightDecayMask.only([0..<2, 3..<4]).resolved(count: 6)
        let b = try WeightDecayMask.excluding([2..<3, 4..<6]).resolved(count: 6)
        let c = try WeightDecayMask.factors([1, 1, 0, 1, 0, 0]).resolved(count: 6)
        #expect(a == [1, 1, 0, 1, 0, 0] && a == b && b == c)
        #expect(try WeightDecayMask.all.resolved(count: 6) == nil)
        #expect(throws: OptimizersError.self) { try WeightDecayMask.only([4..<7]).resolved(count: 6) }
        #expect(throws: OptimizersError.self) { try WeightDecayMask.factors([1, 1]).resolved(count: 6) }
    }

    @Test("AdamW with zero gradients is pure decoupled decay: w·(1 − lr·λ)ᵗ on masked-in elements only")
    func decoupledDecayOnly() throws {
        var opt = try AdamW(weightDecay: 0.1, decayMask: .excluding([2..<3]))
        var w: [Float] = [1, -2, 3]
        for _ in 0..<10 { opt.step(parameters: &w, gradients: [0, 0, 0], learningRate: 0.5) }
        let factor = Float(pow095(10))
        #expect(abs(w[0] - factor) < 1e-6 && abs(w[1] + 2 * factor) < 2e-6)
        #expect(w[2] == 3)
    }
}

/// 0.95ⁿ in Double (1 − lr·λ with lr 0.5, λ 0.1).
private func pow095(_ n: Int) -> Double { (0..<n).reduce(1.0) { r, _ in r * 0.95 } }

@Suite("Convergence on an ill-conditioned quadratic")
struct ConvergenceTests {
    /// f(w) = ½ Σ aᵢ (wᵢ − cᵢ)² with curvatures from 0.1 to 10; ∇f = a ⊙ (w − c).
    static let a: [Float] = [0.1, 0.5, 1, 2, 5, 10]
    static let c: [Float] = [1, -2, 0.5, 3, -1, 0.25]

    private func minimize<O: Optimizer>(_ optimizer: O, lr: LearningRateSchedule, steps: Int) -> Float {
        var opt = optimizer
        var w = [Float](repeating: 0, count: 6)
        for s in 0..<steps {
            let g = (0..<6).map { Self.a[$0] * (w[$0] - Self.c[$0]) }
            opt.step(parameters: &w, gradients: g, learningRate: lr.lr(step: s))
        }
        return (0..<6).map { abs(w[$0] - Self.c[$0]) }.max()!
    }

    @Test func sgdMomentumConverges() throws {
        // Stable for lr·a_max < 2(1 + μ); the slow direction (a = 0.1) needs ~ 1/(lr·a·(1−μ)⁻¹) steps.
        #expect(minimize(try SGD(momentum: 0.9), lr: .constant(0.1), steps: 600) < 1e-3)
        #expect(minimize(try SGD(momentum: 0.9, nesterov: true), lr: .constant(0.1), steps: 600) < 1e-3)
        // Without momentum the same budget is not enough in the flat direction: momentum matters.
        #expect(minimize(try SGD(), lr: .constant(0.1), steps: 600) > 1e-3)
    }

    @Test func adamConverges() throws {
        let schedule = LearningRateSchedule.cosine(base: 0.1, warmup: 10, total: 1500, floor: 1e-4)
        #expect(minimize(try Adam(), lr: schedule, steps: 1500) < 1e-3)
        #expect(minimize(try AdamW(weightDecay: 0), lr: schedule, steps: 1500) < 1e-3)
    }
}
