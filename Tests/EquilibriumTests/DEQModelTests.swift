import Equilibrium
// DEQ-S: the block's backward against finite differences, and the implicit gradient of a fully
// converged tiny DEQ against finite differences of its loss.
import Foundation
import NeuralNet
import TensorCore
import Testing
import _TestSupport

/// Make the tiny block contractive (small γ of GN2 and GN3), so a fixed point exists and solvers reach it.
private func makeContractive(_ m: DEQSmall) {
    for name in ["block.norm2.weight", "block.norm3.weight"] {
        let slot = m.parameters.slot(named: name)!
        m.parameters.set(slot, Tensor(shape: slot.shape, repeating: name.contains("norm2") ? 0.1 : 0.5))
    }
}

private func tinyConfiguration(head: DEQConfiguration.Head = .meanPool) -> DEQConfiguration {
    DEQConfiguration(
        inputHeight: 6, inputWidth: 6, inputChannels: 1, classes: 3, channels: 4, expansion: 2, groups: 2,
        injectionStride: 2, head: head, normalizationMean: 0.5, normalizationStd: 0.25)
}

@Suite("DEQ-S model")
struct DEQModelTests {
    @Test func shapesAndFlops() throws {
        let c = DEQConfiguration(normalizationMean: 0.286, normalizationStd: 0.353)
        let m = try DEQSmall(c)
        #expect(m.stateShape(batch: 3) == [3, 14, 14, 32])
        // docs/models.md §1: one f-evaluation ≈ 14.5 MFLOP per sample.
        #expect(abs(c.flopsPerEvaluation / 1e6 - 14.45) < 0.1)
        let x = Tensor(shape: [2, 28, 28, 1], repeating: 0.3)
        #expect(m.inject(x).injection.shape == [2, 14, 14, 32])
        #expect(m.head(m.zeroState(batch: 2)).logits.shape == [2, 10])
    }

    @Test func blockBackwardPassesFiniteDifferences() throws {
        let m = try DEQSmall(tinyConfiguration(), seed: 3)
        var rng = TestRandom(seed: 4)
        let z = rng.tensor(m.stateShape(batch: 2)), inj = rng.tensor(m.stateShape(batch: 2), 0, 1)
        let r = rng.tensor(m.stateShape(batch: 2))
        let (_, cache) = m.f(z, inj)
        m.parameters.zeroGradients()
        let (gz, gi) = m.fBackward(r, cache)
        let fdZ = finiteDifferenceGradient(z.scalars, step: 1e-2) { probe(m.map(Tensor(shape: z.shape, scalars: $0), inj), r) }
        let fdI = finiteDifferenceGradient(inj.scalars, step: 1e-2) { probe(m.map(z, Tensor(shape: inj.shape, scalars: $0)), r) }
        #expect(relativeNormError(gz.scalars, fdZ) < 1e-2)
        #expect(relativeNormError(gi.scalars, fdI) < 1e-2)
        // Parameters of the block only (inject/head parameters get no gradient from f).
        let analytic = m.parameters.gradients, saved = m.parameters.values
        // h = 1e-3: GroupNorm makes f strongly curved in the conv weights (truncation error ~5 % at h = 1e-2).
        let fdP = finiteDifferenceGradient(saved, step: 1e-3) { v in
            m.parameters.values = v
            return probe(m.map(z, inj), r)
        }
        m.parameters.values = saved
        #expect(relativeNormError(analytic, fdP) < 2e-3)
    }

    /// f at the benchmark configuration (direct convolutions, fused normalisations) against the layer-by-layer
    /// definition of docs/models.md §1 written with the reference kernels in Double.
    @Test func blockMatchesLayerByLayerDefinition() throws {
        let c = DEQConfiguration(normalizationMean: 0.286, normalizationStd: 0.353)
        let m = try DEQSmall(c, seed: 11)
        var rng = TestRandom(seed: 12)
        for name in m.parameters.slots.map(\.name) where name.contains("norm") {  // non-trivial γ, β
            let slot = m.parameters.slot(named: name)!
            m.parameters.set(slot, rng.tensor(slot.shape, name.hasSuffix("weight") ? 0.5 : -0.5, name.hasSuffix("weight") ? 1.5 : 0.5))
        }
        let z = rng.tensor(m.stateShape(batch: 3)), inj = rng.tensor(m.stateShape(batch: 3), 0, 1)
        let p = m.parameters
        func gn(_ x: Tensor, _ layer: String) -> Tensor {
            Reference.groupNorm(
                x, groups: c.groups, gamma: p.tensor(p.slot(named: "\(layer).weight")!),
                beta: p.tensor(p.slot(named: "\(layer).bias")!), epsilon: c.epsilon)
        }
        func conv(_ x: Tensor, _ layer: String) -> Tensor {
            Reference.conv2d(x, weight: p.tensor(p.slot(named: "\(layer).weight")!), bias: nil, stride: 1, padding: 1)
        }
        let relu = { (t: Tensor) in t.mapped { max($0, 0) } }
        let inner = conv(relu(gn(conv(z, "block.conv1"), "block.norm1")), "block.conv2")
        let expected = gn(relu(z + gn(inner, "block.norm2") + inj), "block.norm3")
        #expect(relativeMaxError(m.map(z, inj), expected) < 1e-4)
    }

    /// `map` (blocks of 16 samples) gives exactly f's output, for a batch that leaves a short last block.
    @Test func blockedMapEqualsFBitForBit() throws {
        let m = try DEQSmall(DEQConfiguration(normalizationMean: 0.286, normalizationStd: 0.353), seed: 13)
        var rng = TestRandom(seed: 14)
        let z = rng.tensor(m.stateShape(batch: 37)), inj = rng.tensor(m.stateShape(batch: 37), 0, 1)
        #expect(m.map(z, inj).scalars == m.f(z, inj).output.scalars)
    }

    @Test func accumulationSwitchSkipsParameterGradients() throws {
        let m = try DEQSmall(tinyConfiguration(), seed: 5)
        var rng = TestRandom(seed: 6)
        let z = rng.tensor(m.stateShape(batch: 2)), inj = rng.tensor(m.stateShape(batch: 2), 0, 1)
        let (_, cache) = m.f(z, inj)
        m.parameters.zeroGradients()
        m.parameters.accumulatesGradients = false
        let a = m.fBackward(z, cache).state
        m.parameters.accumulatesGradients = true
        #expect(m.parameters.gradients.allSatisfy { $0 == 0 })
        let b = m.fBackward(z, cache).state
        #expect(a == b)
        #expect(m.parameters.gradients.contains { $0 != 0 })
    }

    /// The mean-pool head keeps L smooth in θ; the downsample head (checked on its own below) has a ReLU on a
    /// 2×2 map whose kinks the finite differences would straddle.
    @Test func implicitGradientMatchesFiniteDifferencesOfConvergedLoss() throws {
        let m = try DEQSmall(tinyConfiguration(head: .meanPool), seed: 11)
        makeContractive(m)
        var rng = TestRandom(seed: 12)
        let x = rng.tensor([3, 6, 6, 1], 0, 1)
        let labels = [0, 2, 1]
        let tight = SolverConfig(kind: .anderson, maxSteps: 200, tolerance: 1e-6, stopMode: .relative)
        let config = DEQTrainingConfig(forwardSolver: tight, backward: .implicit(tight), jacobianWeight: 0)
        m.parameters.zeroGradients()
        let result = m.trainingStep(x, labels: labels, config: config)
        #expect(result.forwardResidual < 2e-5, "tiny DEQ must converge for this check: \(result.forwardResidual)")
        let analytic = m.parameters.gradients
        // Loss of the fully converged model as a function of the parameters.
        func convergedLoss(_ v: [Float]) -> Double {
            m.parameters.values = v
            let (logits, _, _) = m.classify(x, solver: tight)
            return Reference.crossEntropy(logits: logits, labels: labels)
        }
        let saved = m.parameters.values
        // A deterministic subset of parameters from every slot keeps the check fast.
        var indices: [Int] = []
        for slot in m.parameters.slots {
            indices.append(contentsOf: stride(from: slot.offset, to: slot.offset + slot.count, by: max(1, slot.count / 4)))
        }
        var fd: [Float] = [], an: [Float] = []
        for i in indices {
            var v = saved
            let h: Float = 3e-3  // balances FD truncation against the solver tolerance (1e-6 relative) in Float
            v[i] = saved[i] + h; let lp = convergedLoss(v)
            v[i] = saved[i] - h; let lm = convergedLoss(v)
            fd.append(Float((lp - lm) / Double(2 * h)))
            an.append(analytic[i])
        }
        m.parameters.values = saved
        #expect(relativeNormError(an, fd) < 3e-2, "implicit vs finite-difference gradient (\(indices.count) parameters)")
    }

    @Test func downsampleHeadBackwardPassesFiniteDifferences() throws {
        for head in [DEQConfiguration.Head.downsample, .flatten] {
            var c = tinyConfiguration(head: head)
            c.inputHeight = 14; c.inputWidth = 14  // a 7×7 state → 4×4 head map
            let m = try DEQSmall(c, seed: 31)
            var rng = TestRandom(seed: 32)
            let z = rng.tensor(m.stateShape(batch: 2)), r = rng.tensor([2, 3])
            #expect(m.head(z).logits.shape == [2, 3])
            let (_, cache) = m.head(z)
            m.parameters.zeroGradients()
            let gz = m.headBackward(r, cache)
            let fd = finiteDifferenceGradient(z.scalars, step: 1e-3) { probe(m.head(Tensor(shape: z.shape, scalars: $0)).logits, r) }
            #expect(relativeNormError(gz.scalars, fd) < 5e-3, "\(head)")
        }
    }

    @Test func jacobianRegulariserGradientMatchesFiniteDifferences() throws {
        let m = try DEQSmall(tinyConfiguration(), seed: 21)
        makeContractive(m)
        var rng = TestRandom(seed: 22)
        let x = rng.tensor([2, 6, 6, 1], 0, 1)
        let eps = rng.tensor(m.stateShape(batch: 2))
        let solver = SolverConfig(kind: .anderson, maxSteps: 200, tolerance: 1e-6, stopMode: .relative)
        // Phantom with 1 step isolates the regulariser's gradient path from the adjoint solve.
        let withJ = DEQTrainingConfig(forwardSolver: solver, backward: .phantom(steps: 1, damping: 1), jacobianWeight: 1)
        let withoutJ = DEQTrainingConfig(forwardSolver: solver, backward: .phantom(steps: 1, damping: 1), jacobianWeight: 0)
        m.parameters.zeroGradients()
        let r = m.trainingStep(x, labels: [1, 0], config: withJ, jacobianNoise: eps)
        let gWith = m.parameters.gradients
        m.parameters.zeroGradients()
        _ = m.trainingStep(x, labels: [1, 0], config: withoutJ)
        let gReg = zip(gWith, m.parameters.gradients).map { $0 - $1 }
        #expect(r.jacobianNorm > 0)
        // R(θ) with z* held fixed at the solution for the unperturbed θ, as the step defines it.
        let (inj0, _) = m.inject(x)
        let zStar = solveFixedPoint({ m.map($0, inj0) }, initial: m.zeroState(batch: 2), config: solver).z
        let saved = m.parameters.values
        func reg(_ v: [Float]) -> Double {
            m.parameters.values = v
            let (inj, _) = m.inject(x)
            var zp = zStar, zm = zStar
            zp.add(eps, scaledBy: 1e-2); zm.add(eps, scaledBy: -1e-2)
            let jv = (1 / Float(2e-2)) * (m.map(zp, inj) - m.map(zm, inj))
            return jv.squaredNorm() / Double(zStar.count)
        }
        let fd = finiteDifferenceGradient(saved, step: 1e-3, loss: reg)
        m.parameters.values = saved
        #expect(relativeNormError(gReg, fd) < 2e-2)
    }

    @Test func checkpointRoundTripAndMismatchErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("deq-ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let c = tinyConfiguration()
        let a = try DEQSmall(c, seed: 1)
        let url = dir.appendingPathComponent("m.safetensors")
        try a.parameters.save(to: url, metadata: ["equicert.architecture": c.jsonString()])
        let file = try SafeTensorsFile(contentsOf: url)
        let c2 = try DEQConfiguration.fromJSON(file.metadata["equicert.architecture"] ?? "", path: url.path)
        #expect(c2 == c)
        let b = try DEQSmall(c2, seed: 2)
        #expect(b.parameters.values != a.parameters.values)
        try b.parameters.load(from: file)
        #expect(b.parameters.values == a.parameters.values)
        // A wider model must refuse this checkpoint, naming the tensor and both shapes.
        var wide = c; wide.channels = 8
        let w = try DEQSmall(wide)
        #expect(throws: NeuralNetError.self) { try w.parameters.load(from: file) }
        do { try w.parameters.load(from: file) } catch {
            #expect("\(error)".contains("inject.conv.weight") && "\(error)".contains("[8, 1, 3, 3]"))
        }
        // Another head is another architecture: missing tensors.
        let d = try DEQSmall(tinyConfiguration(head: .downsample))
        #expect(throws: NeuralNetError.self) { try d.parameters.load(from: file) }
    }
}
