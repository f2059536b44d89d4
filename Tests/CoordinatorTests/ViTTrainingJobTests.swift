import Coordinator
import Datasets
import Foundation
import Testing

@Suite("ViT training job")
struct ViTTrainingJobTests {
    @Test("512 MNIST images, 2 epochs: loss decreases, checkpoint reloads to the same test accuracy; bad options refused")
    func tinyMNIST() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vit-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("vit.safetensors").path
        var o = ViTTrainingJob.Options(data: .mnist, epochs: 2, output: out)
        o.trainLimit = 512; o.batchSize = 64; o.warmupSteps = 2; o.learningRate = 2e-3; o.evalLimit = 200
        o.showProgress = false
        let s = try ViTTrainingJob(o).run { _ in }
        #expect(s.trainLoss.count == 2 && s.trainLoss[1] < s.trainLoss[0], "\(s.trainLoss)")
        #expect(ViTEvaluation.isViT(out))
        let loaded = try ViTEvaluation.load(out)
        #expect(loaded.data == .mnist)
        let test = try ImageDataSource.mnist.load(split: .test)
        let acc = try ViTEvaluation.accuracy(
            loaded.model, loaded.parameters, data: test, count: 200,
            normalization: ImageDataSource.mnist.normalization)
        #expect(acc == s.testAccuracy.last!)
        o.epochs = 0
        #expect(throws: CoordinatorError.self) { try ViTTrainingJob(o).run { _ in } }
        o.epochs = 1; o.data = .mnist; o.learningRate = -1
        #expect(throws: CoordinatorError.self) { try ViTTrainingJob(o).run { _ in } }
        #expect(throws: CoordinatorError.self) { try ViTEvaluation.load(dir.appendingPathComponent("none.safetensors").path) }
    }
}
