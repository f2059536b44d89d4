import Datasets
import TensorCore

/// The non-generative distillation baselines.
public enum BaselineMethod: String, Sendable, CaseIterable {
    /// A uniformly random real subset of `ipc` images per class.
    case random
    /// Per class, greedy herding in raw-pixel space (Welling 2009; iCaRL's exemplar selection).
    case herding
    /// Per class, k-means centres in pixel space (k = ipc, seeded k-means++), the centres as images.
    case kmeansPixel = "kmeans-pixel"

    /// Parse a method name; throws `DistillationError.unknownMethod` listing the known names.
    /// `extra`: other method names accepted elsewhere, listed in the error.
    public init(parsing name: String, extra: [String] = []) throws(DistillationError) {
        guard let m = BaselineMethod(rawValue: name) else {
            throw .unknownMethod(name: name, known: extra + BaselineMethod.allCases.map(\.rawValue))
        }
        self = m
    }
}

/// Baseline distilled sets, each a pure function of (data set, method, ipc, seed).
///
/// Output order is class-major: class 0's `ipc` images, then class 1's, …; labels ascending.
public enum BaselineSelection {
    /// The indices of each class's images in `dataset`, in data-set order; K arrays.
    public static func classIndices(_ dataset: ImageDataset) -> [[Int]] {
        var out = [[Int]](repeating: [], count: dataset.classCount)
        for (i, l) in dataset.labels.enumerated() { out[l].append(i) }
        return out
    }

    /// Check 1 ≤ ipc ≤ every class's size (throws `invalidIPC` naming the smallest offending class).
    public static func validate(ipc: Int, classIndices: [[Int]]) throws(DistillationError) {
        guard ipc >= 1 else { throw .invalidIPC(ipc: ipc, classIndex: 0, available: classIndices.map(\.count).min() ?? 0) }
        for (c, members) in classIndices.enumerated() where members.count < ipc {
            throw .invalidIPC(ipc: ipc, classIndex: c, available: members.count)
        }
    }

    /// Distil `dataset` to `ipc` images per class with `method`.
    /// - Throws: `DistillationError.invalidIPC` for ipc < 1 or larger than a class.
    public static func distill(_ dataset: ImageDataset, method: BaselineMethod, ipc: Int, seed: UInt64) throws(DistillationError) -> DistilledSet {
        let members = classIndices(dataset)
        try validate(ipc: ipc, classIndices: members)
        let images: Tensor
        switch method {
        case .random:
            images = dataset.batch(members.enumerated().flatMap { c, m in randomIndices(m, ipc: ipc, seed: seed, classIndex: c) }).images
        case .herding:
            images = dataset.batch(members.flatMap { m in herdingIndices(dataset, members: m, ipc: ipc) }).images
        case .kmeansPixel:
            let d = dataset.imageShape.reduce(1, *)
            var scalars: [Float] = []
            scalars.reserveCapacity(dataset.classCount * ipc * d)
            for (c, m) in members.enumerated() {
                let x = dataset.batch(m).images
                let points = Tensor(shape: [m.count, d], scalars: x.scalars)
                let result = KMeans.fit(points: points, k: ipc, seed: seed, stream: UInt32(c))
                scalars += result.centres.scalars
            }
            images = Tensor(shape: [dataset.classCount * ipc] + dataset.imageShape, scalars: scalars)
        }
        let labels = (0..<dataset.classCount).flatMap { [Int](repeating: $0, count: ipc) }
        return DistilledSet(
            images: images, labels: labels, classCount: dataset.classCount, datasetName: dataset.name,
            method: method.rawValue, ipc: ipc, seed: seed)
    }

    /// `ipc` distinct members of one class, uniformly at random from the stream keyed by (seed, "RAND", class).
    public static func randomIndices(_ members: [Int], ipc: Int, seed: UInt64, classIndex: Int) -> [Int] {
        var rng = RandomStream(seed: seed, 0x5241_4E44, UInt32(classIndex), 0)  // "RAND"
        return rng.sample(ipc, from: members.count).map { members[$0] }
    }

    /// Greedy herding on raw pixels φ(x) = x (flattened, [0, 1]): with μ the class mean and S_{t−1} the sum
    /// of the images chosen so far, step t picks the unchosen x minimising ‖μ − (S_{t−1} + x)/t‖²
    /// (ties → lowest index). Deterministic: the seed plays no role.
    public static func herdingIndices(_ dataset: ImageDataset, members: [Int], ipc: Int) -> [Int] {
        precondition(ipc >= 1 && ipc <= members.count, "ipc \(ipc) of \(members.count)")
        let x = dataset.batch(members).images
        let n = members.count, d = x.count / n
        var mean = [Double](repeating: 0, count: d)
        var sum = [Double](repeating: 0, count: d)
        var used = [Bool](repeating: false, count: n)
        var chosen: [Int] = []
        x.withUnsafeBufferPointer { p in
            for i in 0..<n { for j in 0..<d { mean[j] += Double(p[i * d + j]) } }
            for j in 0..<d { mean[j] /= Double(n) }
            for t in 1...ipc {
                var best = -1
                var bestDistance = Double.infinity
                let inv = 1 / Double(t)
                for i in 0..<n where !used[i] {
                    var s = 0.0
                    for j in 0..<d {
                        let r = mean[j] - (sum[j] + Double(p[i * d + j])) * inv
                        s += r * r
                    }
                    if s < bestDistance { bestDistance = s; best = i }
                }
                used[best] = true
                chosen.append(best)
                for j in 0..<d { sum[j] += Double(p[best * d + j]) }
            }
        }
        return chosen.map { members[$0] }
    }
}
