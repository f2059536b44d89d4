import Datasets
import Foundation
import NeuralNet
import TensorCore
import Testing

@testable import Distillation

@Suite("Distilled evaluation")
struct DistilledEvaluationTests {
    @Test("shift augmentation: zero shift is the identity, shifts move content and are keyed by (seed, epoch, index)")
    func shift() {
        let x = Tensor(shape: [2, 5, 5, 1], scalars: (0..<50).map(Float.init))
        #expect(DistilledEvaluation.shift(x, maxShift: 0, seed: 1, epoch: 0, indices: [0, 1]) == x)
        let a = DistilledEvaluation.shift(x, maxShift: 2, seed: 1, epoch: 3, indices: [4, 9])
        #expect(a == DistilledEvaluation.shift(x, maxShift: 2, seed: 1, epoch: 3, indices: [4, 9]))
        let variants = Set((0..<8).map { DistilledEvaluation.shift(x, maxShift: 2, seed: 1, epoch: $0, indices: [4, 9]).scalars })
        #expect(variants.count > 1)
        // every output pixel is either zero fill or an input pixel of the same image
        for n in 0..<2 { for v in a.scalars[(n * 25)..<((n + 1) * 25)] { #expect(v == 0 || x.scalars[(n * 25)..<((n + 1) * 25)].contains(v)) } }
    }

    @Test("soft labels: rows are softmax(teacher/T), sum to 1, flatter at higher T")
    func softLabels() throws {
        let set = try BaselineSelection.distill(toyDataset(), method: .random, ipc: 2, seed: 0)
        let store = ParameterStore(seed: 3)
        let teacher = StudentArchitecture.mlp.makeModel(imageShape: [4, 4, 1], classCount: 3, width: 8, in: store)
        let t1 = DistilledEvaluation.attachSoftLabels(to: set, teacher: teacher, store: store, temperature: 1)
        let t20 = DistilledEvaluation.attachSoftLabels(to: set, teacher: teacher, store: store, temperature: 20)
        let logits = teacher(set.images, store)
        for r in 0..<set.count {
            let row = Array(logits.scalars[(r * 3)..<(r * 3 + 3)])
            let e = row.map { exp(Double($0 - row.max()!)) }
            for j in 0..<3 { #expect(abs(Double(t1.softLabels!.scalars[r * 3 + j]) - e[j] / e.reduce(0, +)) < 1e-5) }
            let p20 = t20.softLabels!.scalars[(r * 3)..<(r * 3 + 3)]
            #expect(abs(p20.reduce(0, +) - 1) < 1e-5)
            #expect(p20.max()! <= t1.softLabels!.scalars[(r * 3)..<(r * 3 + 3)].max()! + 1e-6)
        }
        #expect(t20.softLabelTemperature == 20)
    }

    @Test("tiny distill-eval on MNIST: IPC 10 random, ConvNet and MLP, hard and teacher-soft labels, well above chance")
    func tinyMNIST() throws {
        let dir = try #require(
            try? DataLocator.process.locate("mnist", requiring: DataLocator.idxFiles),
            "MNIST not found: run Scripts/setup-data")
        let train = try ImageDataset.mnist(directory: dir, split: .train)
        let test = try ImageDataset.mnist(directory: dir, split: .test).subset(Array(0..<1000))
        let set = try BaselineSelection.distill(train, method: .random, ipc: 10, seed: 0)
        #expect(set.classHistogram == [Int](repeating: 10, count: 10))
        let conv = DistilledEvaluationConfig(
            architecture: .convnet, labels: .hard, epochs: 15, batchSize: 20,
            learningRate: 3e-3, width: 16, maxShift: 2, seeds: [0, 1])
        let r = try DistilledEvaluation.run(set: set, test: test, config: conv)
        print("convnet hard: \(r.accuracies) mean \(r.mean) ± \(r.std), loss \(r.finalLosses), \(r.seconds) s")
        #expect(r.accuracies.allSatisfy { $0 > 0.4 }, "\(r.accuracies)")
        #expect(r.accuracies[0] != r.accuracies[1] || r.finalLosses[0] != r.finalLosses[1])
        let again = try DistilledEvaluation.run(
            set: set, test: test,
            config: DistilledEvaluationConfig(
                architecture: .convnet, labels: .hard, epochs: 15, batchSize: 20, learningRate: 3e-3, width: 16, maxShift: 2, seeds: [1]))
        #expect(again.accuracies[0] == r.accuracies[1] && again.finalLosses[0] == r.finalLosses[1])

        // teacher: an MLP trained briefly on 2,000 real images; its soft labels (T = 4) train an MLP student.
        let teacherData = train.subset(Array(0..<2000))
        let teacherConfig = DistilledEvaluationConfig(architecture: .mlp, epochs: 3, batchSize: 64, learningRate: 2e-3, maxShift: 0)
        let (teacher, store, _) = DistilledEvaluation.train(
            images: teacherData.images, targets: .hard(teacherData.labels),
            classCount: 10, config: teacherConfig, seed: 5)
        let teacherAccuracy = DistilledEvaluation.accuracy(
            model: teacher, store: store, images: test.images,
            labels: test.labels, batchSize: 500)
        let soft = DistilledEvaluation.attachSoftLabels(to: set, teacher: teacher, store: store, temperature: 4)
        let mlp = DistilledEvaluationConfig(
            architecture: .mlp, labels: .soft, epochs: 30, batchSize: 20,
            learningRate: 2e-3, maxShift: 1, seeds: [0])
        let s = try DistilledEvaluation.run(set: soft, test: test, config: mlp)
        print("teacher \(teacherAccuracy); mlp soft: \(s.accuracies), loss \(s.finalLosses), \(s.seconds) s")
        #expect(teacherAccuracy > 0.8)
        #expect(s.accuracies[0] > 0.4, "\(s.accuracies)")

        // A DEQ-S student (implicit depth) on the same set, hard and soft labels: well above chance, deterministic.
        let deq = DistilledEvaluationConfig(
            architecture: .deqS, labels: .hard, epochs: 15, batchSize: 50,
            learningRate: 3e-3, width: 8, maxShift: 1, seeds: [0])
        let d = try DistilledEvaluation.run(set: set, test: test.subset(Array(0..<300)), config: deq)
        var deqSoft = deq
        deqSoft.labels = .soft
        let ds = try DistilledEvaluation.run(set: soft, test: test.subset(Array(0..<300)), config: deqSoft)
        print("deq-s hard: \(d.accuracies), soft: \(ds.accuracies), \(d.seconds) s")
        #expect(d.accuracies[0] > 0.4 && ds.accuracies[0] > 0.4, "\(d.accuracies) \(ds.accuracies)")
        #expect(try DistilledEvaluation.run(set: set, test: test.subset(Array(0..<300)), config: deq).accuracies == d.accuracies)
    }
}
