import TensorCore
import Testing

@testable import Distillation

/// Points around `centres` (k × d) with Gaussian noise of `spread`, `perCluster` each, cluster-major order.
func syntheticClusters(centres: [[Float]], perCluster: Int, spread: Float, seed: UInt64) -> Tensor {
    var rng = RandomStream(seed: seed, 1, 2, 3)
    var scalars: [Float] = []
    for c in centres { for _ in 0..<perCluster { for v in c { scalars.append(v + rng.nextGaussianFloat(std: spread)) } } }
    return Tensor(shape: [centres.count * perCluster, centres[0].count], scalars: scalars)
}

@Suite("k-means++ and Lloyd")
struct KMeansTests {
    let truth: [[Float]] = [[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10], [10, 10, 10]]

    @Test("recovers well-separated clusters: each true cluster gets one centre within 0.2, points grouped exactly")
    func convergence() {
        let x = syntheticClusters(centres: truth, perCluster: 40, spread: 0.5, seed: 7)
        let r = KMeans.fit(points: x, k: 5, seed: 3)
        #expect(r.converged)
        for (t, c) in truth.enumerated() {
            let nearest = (0..<5).map { a in zip(c, r.centres.scalars[(a * 3)..<(a * 3 + 3)]).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) }.min()!
            #expect(nearest < 0.04, "true centre \(t) is \(nearest.squareRoot()) from the nearest centre")
            let labels = Set(r.assignments[(t * 40)..<((t + 1) * 40)])
            #expect(labels.count == 1, "cluster \(t) split over \(labels)")
        }
        #expect(Set(r.assignments).count == 5)
        // inertia ≈ n·d·σ² = 200·3·0.25 = 150
        #expect(r.inertia > 100 && r.inertia < 200, "inertia \(r.inertia)")
    }

    @Test("deterministic in the seed; different seeds or streams give different k-means++ draws")
    func determinism() {
        let x = syntheticClusters(centres: truth, perCluster: 30, spread: 3, seed: 1)
        let a = KMeans.fit(points: x, k: 4, seed: 11)
        let b = KMeans.fit(points: x, k: 4, seed: 11)
        #expect(a == b)
        let p = KMeans.plusPlusCentres(points: x, k: 4, seed: 11)
        let q = KMeans.plusPlusCentres(points: x, k: 4, seed: 12)
        let s = KMeans.plusPlusCentres(points: x, k: 4, seed: 11, stream: 1)
        #expect(p != q && p != s)
    }

    @Test("k-means++ picks distinct data points; Lloyd never increases the inertia; k = n gives zero inertia")
    func properties() {
        let x = syntheticClusters(centres: truth, perCluster: 10, spread: 2, seed: 2)
        let init0 = KMeans.plusPlusCentres(points: x, k: 6, seed: 5)
        var rows = Set<[Float]>()
        for a in 0..<6 {
            let row = Array(init0.scalars[(a * 3)..<(a * 3 + 3)])
            #expect((0..<50).contains { Array(x.scalars[($0 * 3)..<($0 * 3 + 3)]) == row })
            rows.insert(row)
        }
        #expect(rows.count == 6)
        let zeroIter = KMeans.fit(points: x, k: 6, seed: 5, maxIterations: 0)
        let full = KMeans.fit(points: x, k: 6, seed: 5)
        #expect(zeroIter.centres == init0)
        #expect(full.inertia <= zeroIter.inertia + 1e-3)
        let all = KMeans.fit(points: x, k: 50, seed: 5)
        #expect(all.inertia < 1e-3)
    }
}
