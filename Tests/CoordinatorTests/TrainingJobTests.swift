import Coordinator
import Distributed
import Equilibrium
// The DEQ training job on real Fashion-MNIST (a small slice): checkpoints carry their provenance, and a run
// interrupted after one epoch and resumed ends bit-identical to an uninterrupted run.
import Foundation
import NeuralNet
import Testing

@Suite("DEQ training job", .serialized)
struct TrainingJobTests {
    func options(epochs: Int, out: String) -> DEQTrainingJob.Options {
        let config = DEQConfiguration(
            channels: 8, expansion: 1, groups: 4, head: .meanPool,
            normalizationMean: 0.286, normalizationStd: 0.353)
        let solver = SolverConfig(kind: .anderson, maxSteps: 6, tolerance: 1e-3, stopMode: .relative, returnLowestResidual: true)
        var o = DEQTrainingJob.Options(
            data: .fashionMNIST, sigma: 0.25, epochs: epochs, configuration: config,
            training: DEQTrainingConfig(
                forwardSolver: solver, backward: .implicit(solver),
                jacobianWeight: 1),
            output: out)
        o.batchSize = 32; o.trainLimit = 128; o.evalLimit = 64; o.warmupSteps = 2; o.learningRate = 3e-3
        o.jacobianFraction = 0.5; o.showProgress = false; o.seed = 5
        return o
    }

    @Test func resumeAfterOneEpochMatchesUninterruptedRun() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let straight = dir.appendingPathComponent("straight.safetensors").path
        let resumed = dir.appendingPathComponent("resumed.safetensors").path
        _ = try DEQTrainingJob(options(epochs: 2, out: straight)).run { _ in }
        var first = options(epochs: 2, out: resumed)
        first.stopAfterEpochs = 1  // an interruption after epoch 1 of 2
        _ = try DEQTrainingJob(first).run { _ in }
        #expect(try DEQCheckpoint.load(resumed).provenance.epochsDone == 1)
        var second = options(epochs: 2, out: resumed)
        second.resume = true
        var logs: [String] = []
        _ = try DEQTrainingJob(second).run { logs.append($0) }
        #expect(logs.first?.contains("resuming") == true)
        let a = try DEQCheckpoint.load(straight), b = try DEQCheckpoint.load(resumed)
        let identical = a.model.parameters.values == b.model.parameters.values
        #expect(identical, "resumed parameters differ from the uninterrupted run")
        #expect(b.provenance.epochsDone == 2 && b.provenance.stepsDone == 8)
        #expect(b.provenance.dataSet == "fashion-mnist" && b.provenance.sigma == 0.25)
        #expect(try DEQCheckpoint.optimizerState(in: b.file)?.step == 8)
    }

    /// A checkpoint written in the old channels-last flatten order resumes under a new (PyTorch-order) configuration
    /// and stays channels-last: the order belongs to the weights on disk.
    @Test func resumeTakesTheFlattenOrderFromTheCheckpoint() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("m.safetensors").path
        func flattenOptions(epochs: Int, order: DEQConfiguration.FlattenOrder) -> DEQTrainingJob.Options {
            var o = options(epochs: epochs, out: out)
            o.configuration.head = .flatten; o.configuration.flattenOrder = order; o.trainLimit = 64; o.evalLimit = 16
            return o
        }
        var first = flattenOptions(epochs: 2, order: .channelsLast)
        first.stopAfterEpochs = 1
        _ = try DEQTrainingJob(first).run { _ in }
        var second = flattenOptions(epochs: 2, order: .channelsFirst)
        second.resume = true
        _ = try DEQTrainingJob(second).run { _ in }
        let b = try DEQCheckpoint.load(out)
        #expect(b.provenance.epochsDone == 2 && b.model.configuration.flattenOrder == .channelsLast)
        var other = flattenOptions(epochs: 2, order: .channelsFirst)
        other.configuration.channels = 16; other.resume = true
        #expect(throws: CoordinatorError.self) { try DEQTrainingJob(other).run { _ in } }
    }

    /// `train --model mdeq`: the same loop trains an MDEQ; its checkpoint is an MDEQ checkpoint that every DEQ job
    /// loads, and a run interrupted after one epoch and resumed ends bit-identical to an uninterrupted one.
    @Test func mdeqTrainsThroughTheSameLoopAndResumesExactly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func mdeqOptions(_ out: String) -> DEQTrainingJob.Options {
            var o = options(epochs: 2, out: out)
            o.mdeq = MDEQConfiguration(
                inputHeight: 28, inputWidth: 28, inputChannels: 1, classes: 10, channels: [4, 8], headChannels: [2, 4],
                finalChannels: 16, expansion: 2, groups: 2, normalizationMean: [0.286], normalizationStd: [0.353])
            o.trainLimit = 64; o.evalLimit = 16
            return o
        }
        let straight = dir.appendingPathComponent("straight.safetensors").path
        let resumed = dir.appendingPathComponent("resumed.safetensors").path
        _ = try DEQTrainingJob(mdeqOptions(straight)).run { _ in }
        var first = mdeqOptions(resumed)
        first.stopAfterEpochs = 1
        _ = try DEQTrainingJob(first).run { _ in }
        var second = mdeqOptions(resumed)
        second.resume = true
        _ = try DEQTrainingJob(second).run { _ in }
        #expect(CheckpointKind.detect(straight) == .mdeq)
        let a = try DEQCheckpoint.loadMDEQ(straight), b = try DEQCheckpoint.loadMDEQ(resumed)
        #expect(a.model.parameters.values == b.model.parameters.values, "resumed MDEQ differs from the uninterrupted run")
        #expect(b.provenance.epochsDone == 2 && b.provenance.dataSet == "fashion-mnist")
        #expect(a.model.parameters.values != (try MDEQ(mdeqOptions(straight).mdeq!, seed: 5)).parameters.values)
        let loaded = try CheckpointWithTestData(checkpoint: straight, data: nil)
        #expect(loaded.loaded.family == .mdeq && loaded.loaded.inputShape == [28, 28, 1])
    }

    @Test func trainingReducesTheLoss() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var o = options(epochs: 4, out: dir.appendingPathComponent("m.safetensors").path)
        o.sigma = 0
        var losses: [Double] = []
        _ = try DEQTrainingJob(o).run { line in
            if let r = line.range(of: "train loss "), let v = Double(line[r.upperBound...].prefix(6)) { losses.append(v) }
        }
        #expect(losses.count == 4)
        #expect(losses.last! < losses.first! - 0.1, "losses \(losses)")
    }

    @Test func dataParallelTrainingMatchesSingleProcess() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("train-dp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var reference: [Float] = []
        for size in 1...3 {
            let out = dir.appendingPathComponent("m\(size).safetensors").path
            let o = options(epochs: 1, out: out)
            _ = try ThreadGroup.run(size: size, timeout: 300) { comm in
                _ = try DEQTrainingJob(o).run(on: comm) { _ in }
            }
            let values = try DEQCheckpoint.load(out).model.parameters.values
            if size == 1 {
                reference = values
                let initial = try DEQSmall(o.configuration, seed: o.seed).parameters.values
                #expect(zip(values, initial).map { abs($0 - $1) }.max()! > 1e-3, "training moved the parameters")
                continue
            }
            // Same samples, same noise, same steps; only the summation order of the gradient differs.
            let maxDiff = zip(values, reference).map { abs($0 - $1) }.max()!
            #expect(maxDiff < 1e-3, "size \(size): max parameter difference \(maxDiff)")
        }
    }

    @Test func badOptionsAreRefused() throws {
        var o = options(epochs: 0, out: "/tmp/never.safetensors")
        #expect(throws: CoordinatorError.self) { try DEQTrainingJob(o).run { _ in } }
        o.epochs = 1; o.configuration.classes = 7
        #expect(throws: CoordinatorError.self) { try DEQTrainingJob(o).run { _ in } }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/never.safetensors"))
    }
}
