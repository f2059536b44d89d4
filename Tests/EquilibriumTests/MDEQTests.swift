import Equilibrium
// MDEQ against the PyTorch twin of Scripts/gen-mdeq-fixtures.py (every branch count, imported from the raw
// state_dict with weight norm and BatchNorm folded), its vector–Jacobian products against finite differences, the
// solvers on its packed state, and the importer's refusals.
import Foundation
import NeuralNet
import TensorCore
import Testing
import _TestSupport

enum EquilibriumFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func file(_ name: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(contentsOf: directory.appendingPathComponent(name))
    }
    /// The file's tensors except the `fixture.*` ones: a PyTorch state_dict.
    static func stateDict(_ f: SafeTensorsFile) throws -> [String: Tensor] {
        var d: [String: Tensor] = [:]
        for n in f.names where !n.hasPrefix("fixture.") { d[n] = try f.float32(n) }
        return d
    }
}

/// ‖a − b‖∞ / ‖b‖∞: the relative error the PyTorch comparisons report.
func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.count == b.count, "sizes differ: \(a.shape) vs \(b.shape)")
    var m: Float = 0
    for i in 0..<a.count { m = max(m, abs(a.scalars[i] - b.scalars[i])) }
    return m / b.maxAbs()
}

/// A small MDEQ for gradient checks (random parameters, non-trivial GroupNorm affines).
func smallMDEQ(branches n: Int, seed: UInt64) throws -> MDEQ {
    let c = MDEQConfiguration(
        inputHeight: 16, inputWidth: 16, inputChannels: 2, classes: 3, channels: Array([4, 8, 8, 8].prefix(n)),
        headChannels: Array([1, 2, 2, 1].prefix(n)), finalChannels: 6, expansion: 2, groups: 2,
        stemDownsamples: 0, normalizationMean: [0.5, 0.4], normalizationStd: [0.3, 0.2])
    let m = try MDEQ(c, seed: seed)
    var rng = TestRandom(seed: seed &+ 99)
    for slot in m.parameters.slots where slot.name.contains("gn") {
        m.parameters.set(slot, rng.tensor(slot.shape, slot.name.hasSuffix("weight") ? 0.6 : -0.3, slot.name.hasSuffix("weight") ? 1.4 : 0.3))
    }
    return m
}

/// Make f a contraction for the solver tests. Every GroupNorm is scale invariant, so shrinking γ alone does not do it
/// (unlike DEQ-S, whose injection enters after GN2); instead GN1's γ = 0 makes the convolution path of each block a
/// function of x̃ only, GN3 (γ = `scale`, β = 0) then maps z + c(x̃) with a Jacobian ≈ scale/σ, and the fusion and
/// post-fusion norms are shrunk the same way.
func makeContractive(_ m: MDEQ, scale: Float = 0.1) {
    for slot in m.parameters.slots {
        let n = slot.name, weight = n.hasSuffix(".weight")
        func set(_ v: Float) { m.parameters.set(slot, Tensor(shape: slot.shape, repeating: v)) }
        if n.contains(".gn1.") && weight { set(0) }
        if n.contains(".gn2.") && weight { set(1) }
        if n.contains(".gn3.") || n.contains("post_fuse_layers") && n.contains(".gnorm.") { set(weight ? scale : 0) }
        if n.contains("fuse_layers.") && !n.contains("post_fuse") && n.contains(".gnorm.") && weight { set(scale / 3) }
    }
}

@Suite("MDEQ against PyTorch")
struct MDEQPyTorchTests {
    @Test(arguments: [1, 2, 3, 4])
    func importedTwinMatchesPyTorch(branches n: Int) throws {
        let f = try EquilibriumFixtures.file("mdeq-b\(n).safetensors")
        let c = try MDEQConfiguration.fromJSON(f.metadata["equicert.architecture"]!, path: f.path)
        #expect(c.branches == n)
        let m = try MDEQ(c, pyTorchStateDict: EquilibriumFixtures.stateDict(f))
        let x = try f.float32("fixture.x"), z = try f.float32("fixture.z")
        let (inj, _) = m.inject(x)
        let eInj = relativeError(inj, try f.float32("fixture.injection"))
        let fz = m.map(z, inj)
        let eF = relativeError(fz, try f.float32("fixture.f"))
        let eHead = relativeError(m.head(z).logits, try f.float32("fixture.head"))
        var zk = m.zeroState(batch: x.shape[0])
        for _ in 0..<Int(f.metadata["fixture.iterations"]!)! { zk = m.map(zk, inj) }
        let eLogits = relativeError(m.head(zk).logits, try f.float32("fixture.logits"))
        print("MDEQ \(n) branch(es) vs PyTorch, max relative error: injection \(eInj), f \(eF), head \(eHead), logits \(eLogits)")
        #expect(eInj < 1e-4 && eF < 1e-4 && eHead < 1e-4 && eLogits < 1e-4, "\(eInj) \(eF) \(eHead) \(eLogits)")
        #expect(fz.shape == [2, c.stateSize])
    }

    /// The backward passes against PyTorch autograd (float64) on the same points: f wrt state and injection, the head
    /// wrt state, the injection wrt the input, and the parameter gradients both parametrisations share.
    @Test(arguments: [1, 2, 3, 4])
    func vectorJacobianProductsMatchPyTorchAutograd(branches n: Int) throws {
        let f = try EquilibriumFixtures.file("mdeq-b\(n).safetensors")
        let c = try MDEQConfiguration.fromJSON(f.metadata["equicert.architecture"]!, path: f.path)
        let m = try MDEQ(c, pyTorchStateDict: EquilibriumFixtures.stateDict(f))
        let p = m.parameters
        let x = try f.float32("fixture.x"), z = try f.float32("fixture.z")
        let (inj, injCache) = m.inject(x)
        var worst: Float = 0
        func compare(_ a: Tensor, _ name: String) throws {
            let e = relativeError(a, try f.float32(name))
            worst = max(worst, e)
            #expect(e < 1e-4, "\(name): \(e)")
        }
        func compareParameters(_ prefix: String) throws {
            let names = f.names.filter { $0.hasPrefix(prefix) }
            #expect(!names.isEmpty)
            for name in names {
                let slot = try #require(p.slot(named: String(name.dropFirst(prefix.count))), "\(name)")
                try compare(p.gradient(slot), name)
            }
        }
        p.zeroGradients()
        let (_, fc) = m.f(z, inj)
        let (gz, gi) = m.fBackward(try f.float32("fixture.vjp.f.r"), fc)
        try compare(gz, "fixture.vjp.f.state")
        try compare(gi, "fixture.vjp.f.injection")
        try compareParameters("fixture.grad.f.")
        p.zeroGradients()
        let (_, hc) = m.head(z)
        try compare(m.headBackward(try f.float32("fixture.vjp.head.r"), hc), "fixture.vjp.head.state")
        try compareParameters("fixture.grad.head.")
        try compare(m.injectBackward(try f.float32("fixture.vjp.inject.r"), injCache), "fixture.vjp.inject.input")
        print("MDEQ \(n) branch(es) backward vs PyTorch autograd, max relative error \(worst)")
    }

    /// The full-size presets have exactly the twin's (folded) parameters: names, shapes, and the total count.
    @Test(arguments: ["tiny", "tiny-original", "small", "large"])
    func presetsHaveTheTwinsParameters(name: String) throws {
        struct Entry: Decodable { var configuration: MDEQConfiguration; var parameters: [String: [Int]]; var count: Int }
        let data = try Data(contentsOf: EquilibriumFixtures.directory.appendingPathComponent("mdeq-presets.json"))
        let entry = try #require(try JSONDecoder().decode([String: Entry].self, from: data)[name])
        let c = try MDEQConfiguration.preset(name)
        #expect(c == entry.configuration)
        let m = try MDEQ(c)
        let ours = Dictionary(uniqueKeysWithValues: m.parameters.slots.map { ($0.name, $0.shape) })
        #expect(Set(ours.keys) == Set(entry.parameters.keys))
        for (k, s) in entry.parameters { #expect(ours[k] == s, "\(k)") }
        #expect(m.parameters.count == entry.count)
    }
}

@Suite("MDEQ model")
struct MDEQModelTests {
    @Test func shapesPackingAndPresets() throws {
        let m = try MDEQ(.tiny)
        #expect(m.configuration.branches == 2 && !m.configuration.injectionConv)
        #expect(m.stateShape(batch: 3) == [3, 32 * 32 * 24 + 16 * 16 * 24])
        let x = Tensor(shape: [2, 32, 32, 3], repeating: 0.5)
        #expect(m.inject(x).injection.shape == [2, 32, 32, 24])
        #expect(m.head(m.zeroState(batch: 2)).logits.shape == [2, 10])
        var rng = TestRandom(seed: 1)
        let z = rng.tensor(m.stateShape(batch: 2))
        let parts = m.unpack(z)
        #expect(parts.map(\.shape) == [[2, 32, 32, 24], [2, 16, 16, 24]])
        #expect(m.pack(parts) == z)
        #expect(parts[1][1, 0, 0, 0] == z[1, 32 * 32 * 24])
        for n in 1...4 {
            let c = try MDEQConfiguration.large.withBranches(n)
            #expect(c.branches == n && c.injectionConv == (n > 2))
            #expect(try MDEQ(c).configuration.stateSize == (0..<n).reduce(0) { $0 + (32 >> $1) * (32 >> $1) * (32 << $1) })
        }
        #expect(MDEQConfiguration.tiny.flopsPerEvaluation > 0)
    }

    @Test func configurationErrorsNameTheField() throws {
        var five = MDEQConfiguration.large
        five.channels.append(512); five.headChannels.append(224)
        #expect(throws: EquilibriumError.self) { try MDEQ(five) }
        do { try five.validate() } catch { #expect("\(error)".contains("channels") && "\(error)".contains("1 to 4 branches")) }
        var odd = MDEQConfiguration.large
        odd.inputHeight = 36
        do { try odd.validate(); Issue.record("36×32 accepted for 4 branches") } catch { #expect("\(error)".contains("divisible")) }
        var mean = MDEQConfiguration.tiny
        mean.normalizationMean = [0.5]
        do { try mean.validate(); Issue.record("one mean for three channels accepted") } catch { #expect("\(error)".contains("normalization")) }
        #expect(throws: EquilibriumError.self) { try MDEQConfiguration.preset("huge") }
        let json = MDEQConfiguration.small.jsonString()
        #expect(try MDEQConfiguration.fromJSON(json, path: "x") == .small)
        #expect(equilibriumFamily(ofArchitectureJSON: json) == "mdeq")
        #expect(equilibriumFamily(ofArchitectureJSON: DEQConfiguration(normalizationMean: 0, normalizationStd: 1).jsonString()) == "deq-s")
        #expect(equilibriumFamily(ofArchitectureJSON: #"{"channels":32}"#) == "deq-s")
    }

    /// Central finite differences of ⟨r, out⟩ coordinate by coordinate against the vector–Jacobian products: f wrt
    /// state, injection and parameters; the head wrt state and parameters; the injection wrt input and parameters.
    /// Every GroupNorm β and conv bias is ±2.5 (random sign per channel), so most ReLUs are clearly on or off (both
    /// masks exercised, few kinks within a step). h = 1e-3 for f (GroupNorm curvature); h = 1e-2 for the head and the
    /// injection, piecewise linear in each coordinate (exact differences away from kinks, less rounding). The head's
    /// state gradient gets 1e-1: it is small after the mean over positions (rounding) and the bottleneck's identity
    /// shortcut ReLU(main(z) + z) has kinks wherever z is near −main(z).
    /// Parameters: up to 24 coordinates of each slot the function depends on. Float32 differences of a GroupNorm
    /// network leave percent-level noise (curvature at large h, rounding at small h, the odd kink), hence 5e-2 here;
    /// the exact comparison is `vectorJacobianProductsMatchPyTorchAutograd` (1e-4 against float64 autograd).
    @Test(arguments: [1, 2, 3, 4])
    func vectorJacobianProductsPassFiniteDifferences(branches n: Int) throws {
        let m = try smallMDEQ(branches: n, seed: UInt64(10 + n))
        let p = m.parameters
        var rng = TestRandom(seed: UInt64(20 + n))
        let x = rng.tensor([2, 16, 16, 2], 0, 1)
        let z = rng.tensor(m.stateShape(batch: 2))
        for slot in p.slots where slot.name.hasSuffix(".bias") && slot.name != "classifier.bias" {
            p.set(slot, Tensor(shape: slot.shape, scalars: (0..<slot.count).map { _ in rng.uniform() < 0 ? -2.5 : 2.5 }))
        }
        let theta = p.values
        let (inj, injCache) = m.inject(x)
        func check(
            _ analytic: [Float], _ base: [Float], _ what: String, step h: Float, bound: Double = 5e-2, indices: [Int]? = nil,
            _ loss: ([Float]) -> Double
        ) {
            let idx = indices ?? Array(0..<base.count)
            var w = base, fd: [Float] = []
            for i in idx {
                w[i] = base[i] + h; let lp = loss(w)
                w[i] = base[i] - h; let lm = loss(w)
                w[i] = base[i]
                fd.append(Float((lp - lm) / (2 * Double(h))))
            }
            let e = relativeNormError(idx.map { analytic[$0] }, fd)
            #expect(e < bound, "\(what): relative error \(e)")
        }
        func coordinates(_ prefixes: [String]) -> [Int] {
            p.slots.filter { s in prefixes.contains { s.name.hasPrefix($0) } }
                .flatMap { s in stride(from: s.offset, to: s.offset + s.count, by: max(1, s.count / 24)) }
        }
        func withParameters(_ v: [Float], _ body: () -> Double) -> Double { p.values = v; defer { p.values = theta }; return body() }
        // f
        let (fz, cache) = m.f(z, inj)
        let r = rng.tensor(fz.shape)
        p.zeroGradients()
        let (gz, gi) = m.fBackward(r, cache)
        let gTheta = p.gradients
        #expect(gi.shape == inj.shape)
        check(gz.scalars, z.scalars, "f: state", step: 1e-3) { probe(m.map(Tensor(shape: z.shape, scalars: $0), inj), r) }
        check(gi.scalars, inj.scalars, "f: injection", step: 1e-3) { probe(m.map(z, Tensor(shape: inj.shape, scalars: $0)), r) }
        check(gTheta, theta, "f: parameters", step: 1e-3, indices: coordinates(["fullstage."])) { v in withParameters(v) { probe(m.map(z, inj), r) } }
        // Parameter gradients of f touch only f's parameters (not the stem's or the head's).
        for slot in p.slots where !slot.name.hasPrefix("fullstage.") { #expect(gTheta[slot.range].allSatisfy { $0 == 0 }, "\(slot.name)") }
        // head
        let (logits, hc) = m.head(z)
        let rl = rng.tensor(logits.shape)
        p.zeroGradients()
        let gzHead = m.headBackward(rl, hc)
        let gHead = p.gradients
        check(gzHead.scalars, z.scalars, "head: state", step: 1e-2, bound: 1e-1) { probe(m.head(Tensor(shape: z.shape, scalars: $0)).logits, rl) }
        check(
            gHead, theta, "head: parameters", step: 1e-2,
            indices: coordinates(["incre_modules.", "downsamp_modules.", "final_layer.", "classifier."])
        ) { v in
            withParameters(v) { probe(m.head(z).logits, rl) }
        }
        // injection
        let ri = rng.tensor(inj.shape)
        p.zeroGradients()
        let gx = m.injectBackward(ri, injCache)
        let gInj = p.gradients
        check(gx.scalars, x.scalars, "inject: input", step: 1e-2) { probe(m.inject(Tensor(shape: x.shape, scalars: $0)).injection, ri) }
        check(gInj, theta, "inject: parameters", step: 1e-2, indices: coordinates(["downsample.", "stage0."])) { v in
            withParameters(v) { probe(m.inject(x).injection, ri) }
        }
    }

    /// Every solver reaches the same fixed point of a contractive MDEQ; a warm start from it needs (almost) no work.
    @Test(arguments: [2, 4])
    func solversAndWarmStartOnThePackedState(branches n: Int) throws {
        let m = try smallMDEQ(branches: n, seed: UInt64(30 + n))
        makeContractive(m)
        var rng = TestRandom(seed: 5)
        let x = rng.tensor([3, 16, 16, 2], 0, 1)
        var states: [Tensor] = [], logits: [Tensor] = []
        for kind in [SolverKind.naive, .anderson, .broyden] {
            let cfg = SolverConfig(kind: kind, maxSteps: 200, tolerance: 1e-5, stopMode: .relative)
            let (lg, z, stats) = m.classify(x, solver: cfg)
            #expect(stats.finalRelativeResidual.allSatisfy { $0 < 1e-4 }, "\(kind): \(stats.finalRelativeResidual)")
            states.append(z); logits.append(lg)
        }
        for k in 1..<3 {
            #expect(relativeMaxError(states[k], states[0]) < 1e-3)
            #expect(logits[k].argmaxRows() == logits[0].argmaxRows())
        }
        let warm = m.classify(
            x, solver: SolverConfig(kind: .anderson, maxSteps: 50, tolerance: 1e-4, stopMode: .relative),
            initial: states[1])
        let cold = m.classify(x, solver: SolverConfig(kind: .anderson, maxSteps: 50, tolerance: 1e-4, stopMode: .relative))
        #expect(warm.stats.evaluations < cold.stats.evaluations)
    }

    /// The implicit-gradient training step (the one DEQ-S trains with, Jacobian regulariser on) lowers the loss of a
    /// fixed batch at every step of plain gradient descent.
    @Test func implicitTrainingStepLowersTheLoss() throws {
        let m = try smallMDEQ(branches: 2, seed: 41)
        makeContractive(m)
        var rng = TestRandom(seed: 42)
        let x = rng.tensor([6, 16, 16, 2], 0, 1)
        let labels = [0, 1, 2, 0, 1, 2]
        let config = DEQTrainingConfig(jacobianWeight: 0.5)
        var losses: [Float] = []
        for step in 0..<12 {
            m.parameters.zeroGradients()
            var stream = RandomStream(seed: 7, UInt32(step), 0, 0)
            let noise = stream.gaussian(shape: m.stateShape(batch: 6), mean: 0, std: 1)
            let r = m.trainingStep(x, labels: labels, config: config, jacobianNoise: noise)
            #expect(r.loss.isFinite && r.forwardResidual.isFinite && r.adjointResidual.isFinite)
            losses.append(r.loss)
            for i in 0..<m.parameters.count { m.parameters.values[i] -= 0.1 * m.parameters.gradients[i] }
        }
        #expect(zip(losses, losses.dropFirst()).allSatisfy { $0 > $1 }, "\(losses)")
    }

    /// The implicit gradient (adjoint solve with f's VJPs) against finite differences of the loss of the fully
    /// converged model, on a subset of the parameters of every slot.
    @Test func implicitGradientMatchesFiniteDifferencesOfConvergedLoss() throws {
        let m = try smallMDEQ(branches: 2, seed: 61)
        makeContractive(m)
        var rng = TestRandom(seed: 62)
        let x = rng.tensor([2, 16, 16, 2], 0, 1)
        let labels = [2, 0]
        let tight = SolverConfig(kind: .anderson, maxSteps: 100, tolerance: 1e-6, stopMode: .relative)
        m.parameters.zeroGradients()
        let result = m.trainingStep(
            x, labels: labels,
            config: DEQTrainingConfig(
                forwardSolver: tight, backward: .implicit(tight),
                jacobianWeight: 0))
        #expect(result.forwardResidual < 1e-5)
        let analytic = m.parameters.gradients, saved = m.parameters.values
        var an: [Float] = [], fd: [Float] = []
        for slot in m.parameters.slots {
            for i in stride(from: slot.offset, to: slot.offset + slot.count, by: max(1, slot.count / 3)) {
                var v = saved
                let h: Float = 3e-3
                v[i] = saved[i] + h; m.parameters.values = v
                let lp = Reference.crossEntropy(logits: m.classify(x, solver: tight).logits, labels: labels)
                v[i] = saved[i] - h; m.parameters.values = v
                let lm = Reference.crossEntropy(logits: m.classify(x, solver: tight).logits, labels: labels)
                fd.append(Float((lp - lm) / Double(2 * h))); an.append(analytic[i])
            }
        }
        m.parameters.values = saved
        #expect(relativeNormError(an, fd) < 5e-2, "implicit vs finite-difference gradient (\(an.count) parameters)")
    }
}

@Suite("MDEQ import and checkpoints")
struct MDEQImportTests {
    /// w = g·v/‖v‖ per output channel, by hand.
    @Test func weightNormFold() {
        let v = Tensor(shape: [2, 1, 1, 2], scalars: [3, 4, 0, -2]), g = Tensor(shape: [2, 1, 1, 1], scalars: [10, 0.5])
        let w = WeightFolding.weightNorm(g: g, v: v)
        #expect(w.shape == v.shape)
        #expect(w.scalars == [6, 8, 0, -0.5])
        // Each output channel's norm is |g|, its direction v's.
        var rng = TestRandom(seed: 3)
        let v2 = rng.tensor([5, 3, 3, 3]), g2 = rng.tensor([5, 1, 1, 1], 0.5, 2)
        let w2 = WeightFolding.weightNorm(g: g2, v: v2)
        for o in 0..<5 {
            let row = w2.scalars[(o * 27)..<((o + 1) * 27)]
            #expect(abs(row.reduce(0) { $0 + $1 * $1 }.squareRoot() - g2.scalars[o]) < 1e-5)
            #expect(abs(w2.scalars[o * 27] * v2.scalars[o * 27 + 1] - w2.scalars[o * 27 + 1] * v2.scalars[o * 27]) < 1e-5)
        }
    }

    /// BN(conv(x)) with running statistics equals the folded convolution (reference kernels).
    @Test func batchNormFold() {
        var rng = TestRandom(seed: 4)
        let x = rng.tensor([2, 5, 5, 3]), w = rng.tensor([4, 3, 3, 3]), b = rng.tensor([4])
        let gamma = rng.tensor([4], 0.5, 1.5), beta = rng.tensor([4]), mean = rng.tensor([4]), variance = rng.tensor([4], 0.5, 2)
        var expected = Reference.conv2d(x, weight: w, bias: b, stride: 1, padding: 1)
        for i in 0..<expected.count {
            let o = i % 4
            expected.scalars[i] =
                (expected.scalars[i] - mean.scalars[o]) / (variance.scalars[o] + 1e-5).squareRoot() * gamma.scalars[o] + beta.scalars[o]
        }
        let (wf, bf) = WeightFolding.batchNorm(weight: w, bias: b, gamma: gamma, beta: beta, mean: mean, variance: variance)
        #expect(relativeMaxError(Reference.conv2d(x, weight: wf, bias: bf, stride: 1, padding: 1), expected) < 1e-5)
    }

    @Test func importRefusesNamingTheTensor() throws {
        let f = try EquilibriumFixtures.file("mdeq-b2.safetensors")
        let c = try MDEQConfiguration.fromJSON(f.metadata["equicert.architecture"]!, path: f.path)
        let good = try EquilibriumFixtures.stateDict(f)
        func reason(_ d: [String: Tensor], _ config: MDEQConfiguration? = nil) -> String {
            do { _ = try MDEQ(config ?? c, pyTorchStateDict: d); return "accepted" } catch { return "\(error)" }
        }
        var missing = good; missing["fullstage.branches.1.blocks.0.conv2.weight_v"] = nil
        #expect(reason(missing).contains("fullstage.branches.1.blocks.0.conv2.weight_v") && reason(missing).contains("missing"))
        var extra = good; extra["fullstage.branches.2.blocks.0.conv1.weight"] = Tensor(shape: [1])
        #expect(reason(extra).contains("fullstage.branches.2.blocks.0.conv1.weight") && reason(extra).contains("unexpected"))
        var shape = good; shape["classifier.weight"] = Tensor(shape: [5, 17])
        #expect(reason(shape).contains("classifier.weight") && reason(shape).contains("shape"))
        var nan = good; nan["classifier.bias"] = Tensor(shape: [5], repeating: .nan)
        #expect(reason(nan).contains("classifier.bias") && reason(nan).contains("finite"))
        var halfAffine = good; halfAffine["fullstage.branches.0.blocks.0.gn1.bias"] = nil
        #expect(reason(halfAffine).contains("gn1.bias"))
        // A configuration that does not match the tensors: the first misfit is named.
        var wider = c; wider.channels[1] = 16
        #expect(reason(good, wider).contains("shape"))
        // The original code's frozen copy and BatchNorm counters are skipped.
        var copy = good; copy["fullstage_copy.branches.0.blocks.0.conv1.weight"] = Tensor(shape: [1])
        copy["downsample.1.num_batches_tracked"] = Tensor(shape: [])
        #expect(reason(copy) == "accepted")
    }

    @Test func checkpointRoundTrip() throws {
        let m = try smallMDEQ(branches: 3, seed: 51)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mdeq-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try m.parameters.save(to: url, metadata: m.checkpointMetadata.merging(["equicert.data": "test"]) { a, _ in a })
        let loaded = try MDEQ(checkpoint: SafeTensorsFile(contentsOf: url))
        #expect(loaded.configuration == m.configuration)
        #expect(loaded.parameters.values == m.parameters.values)
        var rng = TestRandom(seed: 52)
        let x = rng.tensor([2, 16, 16, 2], 0, 1)
        #expect(
            loaded.head(loaded.map(loaded.zeroState(batch: 2), loaded.inject(x).injection)).logits
                == m.head(m.map(m.zeroState(batch: 2), m.inject(x).injection)).logits)
        let deqs = try DEQSmall(DEQConfiguration(normalizationMean: 0, normalizationStd: 1))
        let other = FileManager.default.temporaryDirectory.appendingPathComponent("deqs-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: other) }
        try deqs.parameters.save(to: other, metadata: ["equicert.architecture": deqs.configuration.jsonString()])
        #expect(throws: (any Error).self) { try MDEQ(checkpoint: SafeTensorsFile(contentsOf: other)) }
    }
}
