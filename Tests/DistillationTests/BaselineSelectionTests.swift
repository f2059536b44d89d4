import Datasets
import Foundation
import NeuralNet
import TensorCore
import Testing

@testable import Distillation

/// A toy data set: `classes` classes of uneven sizes (20 + 3c) of 4×4×1 images, class c bright in row c % 4.
func toyDataset(classes: Int = 3) -> ImageDataset {
    var rng = RandomStream(seed: 99, 0, 0, 0)
    var scalars: [Float] = [], labels: [Int] = []
    for c in 0..<classes {
        for _ in 0..<(20 + 3 * c) {
            for y in 0..<4 { for _ in 0..<4 { scalars.append(y == c % 4 ? 0.8 + 0.2 * rng.nextUniformFloat() : 0.2 * rng.nextUniformFloat()) } }
            labels.append(c)
        }
    }
    // interleave classes so class members are not contiguous
    let order = (0..<labels.count).sorted { ($0 * 7919) % labels.count < ($1 * 7919) % labels.count }
    let ds = ImageDataset(
        name: "toy", images: Tensor(shape: [labels.count, 4, 4, 1], scalars: scalars), labels: labels,
        classNames: (0..<classes).map(String.init), mean: [0.3], std: [0.3])
    return ds.subset(order)
}

func distillationError(_ body: () throws -> Void) -> DistillationError? {
    do { try body() } catch let e as DistillationError { return e } catch { return nil }
    return nil
}

@Suite("Baseline selection")
struct BaselineSelectionTests {
    let data = toyDataset()

    func isRow(_ image: ArraySlice<Float>, of ds: ImageDataset, label: Int) -> Bool {
        (0..<ds.count).contains { i in ds.labels[i] == label && Array(ds.images.scalars[(i * 16)..<((i + 1) * 16)]) == Array(image) }
    }

    @Test(
        "every method: ipc per class, labels class-major, seed-deterministic, provenance recorded",
        arguments: BaselineMethod.allCases)
    func counts(method: BaselineMethod) throws {
        for ipc in [1, 5, 20] {
            let a = try BaselineSelection.distill(data, method: method, ipc: ipc, seed: 4)
            let b = try BaselineSelection.distill(data, method: method, ipc: ipc, seed: 4)
            #expect(a == b)
            #expect(a.images.shape == [3 * ipc, 4, 4, 1])
            #expect(a.classHistogram == [ipc, ipc, ipc])
            #expect(a.labels == (0..<3).flatMap { [Int](repeating: $0, count: ipc) })
            #expect(a.method == method.rawValue && a.ipc == ipc && a.seed == 4 && a.datasetName == "toy")
            for i in 0..<a.count {
                let img = a.images.scalars[(i * 16)..<((i + 1) * 16)]
                if method == .kmeansPixel {
                    // a centre is a mean of its class's images: bright exactly in the class's row
                    let c = a.labels[i]
                    #expect((0..<4).allSatisfy { img[img.startIndex + c * 4 + $0] > 0.75 })
                } else {
                    #expect(isRow(img, of: data, label: a.labels[i]))
                }
            }
            if method != .kmeansPixel {  // real subsets: no image twice
                let rows = Set((0..<a.count).map { Array(a.images.scalars[($0 * 16)..<(($0 + 1) * 16)]) })
                #expect(rows.count == a.count)
            }
        }
    }

    @Test("random and k-means depend on the seed; herding does not")
    func seeds() throws {
        for method in BaselineMethod.allCases {
            let a = try BaselineSelection.distill(data, method: method, ipc: 5, seed: 1)
            let b = try BaselineSelection.distill(data, method: method, ipc: 5, seed: 2)
            #expect((a.images == b.images) == (method == .herding), "\(method)")
        }
    }

    @Test("herding's first pick is the image nearest the class mean")
    func herdingFirst() {
        let members = BaselineSelection.classIndices(data)[1]
        let x = data.batch(members).images.scalars
        let mean = (0..<16).map { j in members.indices.map { x[$0 * 16 + j] }.reduce(0, +) / Float(members.count) }
        let nearest = members.indices.min { i, k in
            let di = (0..<16).map { (x[i * 16 + $0] - mean[$0]) * (x[i * 16 + $0] - mean[$0]) }.reduce(0, +)
            let dk = (0..<16).map { (x[k * 16 + $0] - mean[$0]) * (x[k * 16 + $0] - mean[$0]) }.reduce(0, +)
            return di < dk
        }!
        #expect(BaselineSelection.herdingIndices(data, members: members, ipc: 3).first == members[nearest])
    }

    @Test("IPC < 1, IPC larger than a class and unknown methods are refused with clear errors")
    func badInput() {
        #expect(
            distillationError { _ = try BaselineSelection.distill(data, method: .random, ipc: 0, seed: 0) }
                == .invalidIPC(ipc: 0, classIndex: 0, available: 20))
        #expect(
            distillationError { _ = try BaselineSelection.distill(data, method: .herding, ipc: 21, seed: 0) }
                == .invalidIPC(ipc: 21, classIndex: 0, available: 20))
        let e = distillationError { _ = try BaselineMethod(parsing: "dm") }
        #expect(e == .unknownMethod(name: "dm", known: ["random", "herding", "kmeans-pixel"]))
        #expect(e?.description.contains("kmeans-pixel") == true)
        #expect(distillationError { _ = try StudentArchitecture(parsing: "resnet") } != nil)
    }
}

@Suite("Distilled set file")
struct DistilledSetFileTests {
    func temporaryURL(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("distill-\(UUID().uuidString)-\(name)")
    }

    @Test("round trip with and without soft labels, provenance and temperature intact")
    func roundTrip() throws {
        var set = try BaselineSelection.distill(toyDataset(), method: .random, ipc: 3, seed: 8)
        let url = temporaryURL("a.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try set.save(to: url)
        #expect(try DistilledSet.load(from: url) == set)
        set.softLabels = Tensor(shape: [9, 3], scalars: (0..<27).map { Float($0 % 3 + 1) / 6 })
        set.softLabelTemperature = 20
        try set.save(to: url, extra: ["note": "x"])
        let back = try DistilledSet.load(from: url, expectingImageShape: [4, 4, 1], classCount: 3)
        #expect(back == set)
    }

    @Test("a set whose image shape or class count does not fit is refused; non-set files are refused")
    func mismatches() throws {
        let set = try BaselineSelection.distill(toyDataset(), method: .random, ipc: 2, seed: 8)
        let url = temporaryURL("b.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try set.save(to: url)
        #expect(
            distillationError { _ = try DistilledSet.load(from: url, expectingImageShape: [28, 28, 1], classCount: 3) }
                == .imageShapeMismatch(path: url.path, expected: [28, 28, 1], found: [4, 4, 1]))
        #expect(
            distillationError { _ = try DistilledSet.load(from: url, expectingImageShape: [4, 4, 1], classCount: 10) }
                == .classCountMismatch(path: url.path, expected: 10, found: 3))
        let test = toyDataset(classes: 4)
        let config = DistilledEvaluationConfig(epochs: 1, seeds: [0])
        #expect(
            distillationError { _ = try DistilledEvaluation.run(set: set, test: test, config: config, path: url.path) }
                == .classCountMismatch(path: url.path, expected: 4, found: 3))
        #expect(
            distillationError {
                _ = try DistilledEvaluation.run(
                    set: set, test: toyDataset(),
                    config: DistilledEvaluationConfig(labels: .soft), path: "p")
            }
                == .missingSoftLabels(path: "p"))
        // a plain checkpoint is not a set
        let other = temporaryURL("c.safetensors")
        defer { try? FileManager.default.removeItem(at: other) }
        try NeuralNetWriter.write(other)
        guard case .badSetFile? = distillationError({ _ = try DistilledSet.load(from: other) }) else {
            Issue.record("a non-set file was accepted"); return
        }
    }
}

enum NeuralNetWriter {
    static func write(_ url: URL) throws {
        try SafeTensorsWriter.write(tensors: [("images", Tensor(shape: [1, 2, 2, 1]))], metadata: ["format": "checkpoint"], to: url)
    }
}
