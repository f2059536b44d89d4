import Distributed
// The pruning procedure on a small softmax-regression subject: masks, selection, distribution over ranks,
// checkpoints with masks, bad input, and the distillation loss against finite differences.
import Foundation
import NeuralNet
import Optimizers
import Pruning
import TensorCore
import Testing

@testable import Coordinator

/// Softmax regression y = softmax(x·W + b) on Gaussian clusters. W [D, K] is named like a DEQ-S convolution so
/// that `PrunableMatrices` prunes it; b is not pruned. Validation and test are fresh draws of the same clusters.
final class SoftmaxSubject: PruningSubject {
    let parameters: ParameterStore
    let w: ParameterSlot, b: ParameterSlot
    let d: Int, k: Int
    let x: [[Float]], y: [Int], vx: [[Float]], vy: [Int], tx: [[Float]], ty: [Int]

    init(d: Int = 24, k: Int = 4, n: Int = 240, prunableName: String = "block.conv1.weight") {
        self.d = d; self.k = k
        parameters = ParameterStore(seed: 3)
        w = parameters.register(prunableName, shape: [d, k], initializer: .normal(std: 0.3))
        b = parameters.register("head.bias", shape: [k], initializer: .zeros)
        var rng = RandomStream(seed: 11, 1)
        // Class means: sparse directions, so few weights matter (pruning has something to find).
        let means: [[Float]] = (0..<k).map { c in (0..<d).map { j in j % k == c ? 1.5 : 0 } }
        func draw(_ m: Int) -> ([[Float]], [Int]) {
            var xs: [[Float]] = [], ys: [Int] = []
            for i in 0..<m {
                let c = i % k
                xs.append((0..<d).map { means[c][$0] + rng.nextGaussianFloat() }); ys.append(c)
            }
            return (xs, ys)
        }
        (x, y) = draw(n); (vx, vy) = draw(120); (tx, ty) = draw(120)
    }

    var trainingCount: Int { x.count }
    var clipNorm: Float? { nil }
    func makeOptimizer() throws -> any Optimizer { try Adam() }

    func logits(_ row: [Float]) -> [Float] {
        (0..<k).map { c in (0..<d).reduce(parameters.values[b.offset + c]) { $0 + row[$1] * parameters.values[w.offset + $1 * k + c] } }
    }

    func accumulateGradients(examples: [Int], key: UInt64) throws -> (loss: Double, correct: Int) {
        var loss = 0.0, correct = 0
        let scale = Float(1) / Float(examples.count)
        for i in examples {
            let z = logits(x[i])
            let m = z.max()!
            let e = z.map { expf($0 - m) }
            let s = e.reduce(0, +)
            loss -= Double(logf(e[y[i]] / s))
            if z.firstIndex(of: m)! == y[i] { correct += 1 }
            for c in 0..<k {
                let g = (e[c] / s - (c == y[i] ? 1 : 0)) * scale
                parameters.gradients[b.offset + c] += g
                for j in 0..<d { parameters.gradients[w.offset + j * k + c] += g * x[i][j] }
            }
        }
        return (loss / Double(examples.count), correct)
    }

    func evaluate(_ part: PruningPart, limit: Int) throws -> (accuracy: Double, details: [String: Double]) {
        let (xs, ys) = part == .validation ? (vx, vy) : (tx, ty)
        let n = limit > 0 ? min(limit, xs.count) : xs.count
        var correct = 0
        for i in 0..<n { let z = logits(xs[i]); if z.firstIndex(of: z.max()!)! == ys[i] { correct += 1 } }
        return (Double(correct) / Double(n), [:])
    }
}

@Suite("Pruning procedure")
struct PruningProcedureTests {
    static func settings(_ method: PruningMethod, candidates: Int = 4) -> PruningSettings {
        var s = PruningSettings(schedule: [0.5, 0.75, 0.9], method: method)
        s.candidates = candidates; s.batchSize = 16; s.learningRate = 1e-2; s.earlySteps = 12; s.evaluateEvery = 4
        s.scoreWindow = 2; s.retrainSteps = 20; s.seed = 5
        s.rhos = [0, 1e-3]  // M = 1 and M > 1: visibly different candidates
        return s
    }

    @Test("every method reaches the schedule with nested masks and pruned weights exactly zero")
    func methods() throws {
        for method in PruningMethod.allCases {
            let subject = SoftmaxSubject()
            let run = try PruningProcedure(Self.settings(method)).run(subject)
            #expect(run.stages.count == 3)
            for (st, target) in zip(run.stages, [0.5, 0.75, 0.9]) {
                #expect(abs(st.sparsity - target) < 0.011, "\(method) stage \(st.stage): \(st.sparsity)")
                #expect(st.candidates.count == (method == .random ? 4 : 1))
            }
            let m = run.masks.masks["block.conv1.weight"]!
            let slot = subject.parameters.slot(named: "block.conv1.weight")!
            for (j, keep) in m.keep.enumerated() where !keep { #expect(subject.parameters.values[slot.offset + j] == 0) }
            #expect(subject.parameters.values[subject.b.range].contains { $0 != 0 })  // the bias is not pruned
            #expect(run.stages.last!.testAccuracy > 0.5, "\(method): \(run.stages.last!.testAccuracy)")
            if method == .magnitude { #expect(run.stages.allSatisfy { $0.candidates[0].differenceFromMagnitude == 0 }) }
            if method == .singleRandom { #expect(run.stages.contains { $0.candidates[0].differenceFromMagnitude > 0 }) }
        }
    }

    @Test("selection keeps the arg-max early score; scores are the mean of the last validations")
    func selection() throws {
        let run = try PruningProcedure(Self.settings(.random)).run(SoftmaxSubject())
        for st in run.stages {
            let scores = st.candidates.map(\.earlyScore)
            #expect(st.winner == scores.firstIndex(of: scores.max()!)!)
            for c in st.candidates {
                #expect(c.earlyEvaluations.count == 3)  // after steps 4, 8, 12
                #expect(abs(c.earlyScore - c.earlyEvaluations.suffix(2).reduce(0, +) / 2) < 1e-12)
            }
        }
        #expect(run.stages.contains { $0.candidates.contains { $0.differenceFromMagnitude > 0 } })
    }

    @Test("candidates spread over 1, 2, 3 and 5 ranks (more ranks than candidates): same scores, winners and model")
    func ranks() throws {
        var settings = Self.settings(.random)
        settings.fullEvaluation = true
        let s = settings
        let one = SoftmaxSubject()
        let reference = try PruningProcedure(s).run(one)
        for size in [2, 3, 5] {
            let results = try ThreadGroup.run(size: size) { comm -> ([PruningStageRecord], [Float]) in
                let subject = SoftmaxSubject()
                let run = try PruningProcedure(s).run(subject, comm: comm)
                return (run.stages, subject.parameters.values)
            }
            for r in 0..<size { #expect(results[r].1 == results[0].1, "rank \(r) of \(size) ends with other weights") }
            let stages = results[0].0
            for (a, b) in zip(stages, reference.stages) {
                #expect(a.winner == b.winner)
                for (ca, cb) in zip(a.candidates, b.candidates) {
                    #expect(abs(ca.earlyScore - cb.earlyScore) < 1e-9)
                    #expect(abs(ca.fullScore! - cb.fullScore!) < 1e-9)
                    #expect(ca.rank == ca.index % size)
                }
                #expect(a.rankCorrelation != nil || a.candidates.map(\.earlyScore).allSatisfy { $0 == a.candidates[0].earlyScore })
            }
            // Every rank retrains the winner on its own: the same weights bit for bit.
            #expect(results[0].1 == one.parameters.values, "\(size) ranks: other weights than one process")
        }
    }

    @Test("data-parallel retraining: every rank ends with the same weights, equal to one process up to rounding")
    func dataParallelRetrain() throws {
        var settings = Self.settings(.magnitude)
        settings.dataParallelRetrain = true
        let s = settings
        let one = SoftmaxSubject()
        _ = try PruningProcedure(s).run(one)
        let results = try ThreadGroup.run(size: 2) { comm -> [Float] in
            let subject = SoftmaxSubject()
            _ = try PruningProcedure(s).run(subject, comm: comm)
            return subject.parameters.values
        }
        #expect(results[0] == results[1])
        let maxDiff = zip(results[0], one.parameters.values).map { abs($0 - $1) }.max()!
        #expect(maxDiff < 1e-3, "weights differ by \(maxDiff)")
    }

    @Test("bad settings and models: one-line errors")
    func badInput() throws {
        #expect(throws: PruningError.self) { try SparsitySchedule([0.5, 0.4]) }
        #expect(throws: PruningError.self) { try SparsitySchedule([1.0]) }
        #expect(throws: PruningError.self) { try SparsitySchedule([-0.1]) }
        #expect(throws: PruningError.self) { try SparsitySchedule(parsing: "cubic:0.9") }
        var s = Self.settings(.random, candidates: 0)
        #expect(throws: CoordinatorError.self) { try PruningProcedure(s).run(SoftmaxSubject()) }
        s = Self.settings(.random)
        do {
            _ = try PruningProcedure(s).run(SoftmaxSubject(prunableName: "head.weight"))
            Issue.record("a model without prunable matrices was pruned")
        } catch let e as PruningError {
            #expect(e == .nothingToPrune(model: "the model"))
        }
        // Initial masks that do not fit the model.
        let subject = SoftmaxSubject()
        let wrong = MaskSet(masks: ["block.conv1.weight": PruningMask(dense: 7)])
        #expect(throws: PruningError.self) { try PruningProcedure(s).run(subject, initialMasks: wrong) }
    }

    @Test("masks in a checkpoint: round trip, and mismatches are refused")
    func checkpointMasks() throws {
        let subject = SoftmaxSubject()
        let run = try PruningProcedure(Self.settings(.magnitude)).run(subject)
        let tensors = subject.parameters.slots.map { ($0.name, subject.parameters.tensor($0)) } + run.masks.tensors(shapes: subject.parameters)
        let file = try SafeTensorsFile(data: try SafeTensorsWriter.encode(tensors: tensors))
        let back = try MaskSet.read(from: file, for: subject.parameters)
        #expect(back == run.masks)
        // A pruned weight that is not zero.
        let slot = subject.parameters.slot(named: "block.conv1.weight")!
        let j = run.masks.masks["block.conv1.weight"]!.keep.firstIndex(of: false)!
        subject.parameters.values[slot.offset + j] = 0.5
        #expect(throws: PruningError.self) { try MaskSet.read(from: file, for: subject.parameters) }
        // A mask of another shape.
        let bad = try SafeTensorsFile(
            data: try SafeTensorsWriter.encode(tensors: [("mask.block.conv1.weight", Tensor(shape: [3], scalars: [1, 0, 1]))]))
        #expect(throws: PruningError.self) { try MaskSet.read(from: bad, for: subject.parameters) }
    }

    @Test("distillation loss: gradients match central differences")
    func distillationGradient() {
        var rng = RandomStream(seed: 2, 2)
        let logits = rng.gaussian(shape: [3, 4]), teacher = rng.gaussian(shape: [3, 4])
        let hidden = rng.gaussian(shape: [3, 5]), teacherHidden = rng.gaussian(shape: [3, 5])
        let labels = [0, 3, 1]
        func loss(_ z: Tensor, _ h: Tensor) -> Float {
            Loss.distillation(
                logits: z, labels: labels, teacherLogits: teacher, temperature: 2, softWeight: 0.6,
                hidden: h, teacherHidden: teacherHidden, hiddenWeight: 0.7
            ).loss
        }
        let r = Loss.distillation(
            logits: logits, labels: labels, teacherLogits: teacher, temperature: 2, softWeight: 0.6,
            hidden: hidden, teacherHidden: teacherHidden, hiddenWeight: 0.7)
        let eps: Float = 1e-2
        for i in 0..<logits.count {
            var p = logits, m = logits
            p.scalars[i] += eps; m.scalars[i] -= eps
            let fd = (loss(p, hidden) - loss(m, hidden)) / (2 * eps)
            #expect(abs(fd - r.logitsGradient.scalars[i]) < 2e-3, "logit \(i): \(fd) vs \(r.logitsGradient.scalars[i])")
        }
        for i in 0..<hidden.count {
            var p = hidden, m = hidden
            p.scalars[i] += eps; m.scalars[i] -= eps
            let fd = (loss(logits, p) - loss(logits, m)) / (2 * eps)
            #expect(abs(fd - r.hiddenGradient!.scalars[i]) < 2e-3, "hidden \(i)")
        }
        // a = 0, b = 0: plain cross-entropy.
        let plain = Loss.distillation(logits: logits, labels: labels, teacherLogits: teacher, temperature: 2, softWeight: 0)
        #expect(abs(plain.loss - Loss.crossEntropy(logits: logits, labels: labels).loss) < 1e-6 && plain.hiddenGradient == nil)
    }
}
