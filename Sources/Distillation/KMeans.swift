import TensorCore

// n points of dimension d, k centres. Points and centres are row-major [n, d] / [k, d] Float buffers.

/// The outcome of k-means: centres, the assignment of each point, and the objective.
public struct KMeansResult: Sendable, Equatable {
    /// Centres [k, d].
    public var centres: Tensor
    /// Index of the nearest centre for each of the n points.
    public var assignments: [Int]
    /// Σᵢ ‖xᵢ − c_{a(i)}‖² at the returned centres and assignments.
    public var inertia: Double
    /// Lloyd iterations run.
    public var iterations: Int
    /// True when the assignments stopped changing (or the relative inertia change fell below the tolerance).
    public var converged: Bool
}

/// Seeded k-means: k-means++ initialisation (Arthur & Vassilvitskii 2007) then Lloyd iterations.
///
/// k-means++: the first centre is a uniformly random point; each next centre is point i with probability
/// D(i)² / Σ D², D(i) the distance to the nearest centre chosen so far. Lloyd: assign every point to its
/// nearest centre (ties → lowest index), move each centre to the mean of its points; an empty cluster is
/// re-seeded at the point farthest from its centre. Randomness comes only from the counter-based stream
/// keyed by `seed` (and `stream`), so the result is a pure function of (points, k, seed, stream): the same
/// on any machine and at any rank count. Distances use ‖x‖² − 2x·c + ‖c‖² with one GEMM per iteration.
public enum KMeans {
    /// Cluster the n rows of `points` [n, d] into `k` ≤ n clusters.
    /// - Parameters:
    ///   - stream: an extra key for the random stream (e.g. the class index), so per-class runs are independent.
    ///   - maxIterations: cap on Lloyd iterations (≥ 0; 0 returns the k-means++ centres).
    ///   - tolerance: stop when the inertia's relative decrease is below it (assignments unchanged always stops).
    public static func fit(
        points: Tensor, k: Int, seed: UInt64, stream: UInt32 = 0,
        maxIterations: Int = 100, tolerance: Double = 1e-6
    ) -> KMeansResult {
        precondition(points.rank == 2, "points must be [n, d], got \(points.shape)")
        let n = points.shape[0], d = points.shape[1]
        precondition(k >= 1 && k <= n, "k = \(k) must be in 1...\(n)")
        var centres = plusPlusCentres(points: points, k: k, seed: seed, stream: stream)
        var assignments = [Int](repeating: -1, count: n)
        var distances = [Float](repeating: 0, count: n)
        var inertia = assign(points: points, centres: centres, assignments: &assignments, distances: &distances)
        var iterations = 0
        var converged = false
        while iterations < maxIterations {
            iterations += 1
            // Update step: means of the clusters; an empty cluster takes the farthest point.
            var sums = [Double](repeating: 0, count: k * d)
            var counts = [Int](repeating: 0, count: k)
            points.withUnsafeBufferPointer { x in
                for i in 0..<n {
                    let a = assignments[i]
                    counts[a] += 1
                    for j in 0..<d { sums[a * d + j] += Double(x[i * d + j]) }
                }
            }
            var taken = Set<Int>()
            centres.withUnsafeMutableBufferPointer { c in
                points.withUnsafeBufferPointer { x in
                    for a in 0..<k {
                        if counts[a] > 0 {
                            for j in 0..<d { c[a * d + j] = Float(sums[a * d + j] / Double(counts[a])) }
                        } else {
                            var far = -1
                            for i in 0..<n where !taken.contains(i) && (far < 0 || distances[i] > distances[far]) { far = i }
                            taken.insert(far)
                            for j in 0..<d { c[a * d + j] = x[far * d + j] }
                        }
                    }
                }
            }
            let previous = assignments
            let newInertia = assign(points: points, centres: centres, assignments: &assignments, distances: &distances)
            let relative = inertia > 0 ? (inertia - newInertia) / inertia : 0
            inertia = newInertia
            if previous == assignments || relative < tolerance && relative >= 0 { converged = true; break }
        }
        return KMeansResult(
            centres: centres, assignments: assignments, inertia: inertia,
            iterations: iterations, converged: converged)
    }

    /// The k-means++ initial centres [k, d] (see the type's documentation), drawn from the stream keyed by
    /// (seed, "KMPP", stream).
    public static func plusPlusCentres(points: Tensor, k: Int, seed: UInt64, stream: UInt32 = 0) -> Tensor {
        let n = points.shape[0], d = points.shape[1]
        precondition(k >= 1 && k <= n, "k = \(k) must be in 1...\(n)")
        var rng = RandomStream(seed: seed, 0x4B4D_5050, stream, 0)  // "KMPP"
        var centres = Tensor(shape: [k, d])
        var nearest = [Double](repeating: .infinity, count: n)
        var chosen = rng.randomInt(below: n)
        points.withUnsafeBufferPointer { x in
            centres.withUnsafeMutableBufferPointer { c in
                for m in 0..<k {
                    for j in 0..<d { c[m * d + j] = x[chosen * d + j] }
                    if m == k - 1 { break }
                    var total = 0.0
                    for i in 0..<n {
                        var s = 0.0
                        for j in 0..<d { let t = Double(x[i * d + j] - c[m * d + j]); s += t * t }
                        nearest[i] = min(nearest[i], s)
                        total += nearest[i]
                    }
                    if total <= 0 {  // all remaining points coincide with centres: take the next unused index
                        chosen = (chosen + 1) % n
                        continue
                    }
                    let target = rng.nextUniform() * total
                    var acc = 0.0
                    chosen = -1
                    for i in 0..<n where nearest[i] > 0 {
                        acc += nearest[i]
                        chosen = i
                        if acc > target { break }
                    }
                }
            }
        }
        return centres
    }

    /// Assign each point to its nearest centre (ties → lowest index); returns Σ squared distances and
    /// fills `distances` with each point's squared distance to its centre.
    static func assign(points: Tensor, centres: Tensor, assignments: inout [Int], distances: inout [Float]) -> Double {
        let n = points.shape[0], d = points.shape[1], k = centres.shape[0]
        var dots = [Float](repeating: 0, count: n * k)
        var pointNorms = [Float](repeating: 0, count: n)
        var centreNorms = [Float](repeating: 0, count: k)
        points.withUnsafeBufferPointer { x in
            centres.withUnsafeBufferPointer { c in
                dots.withUnsafeMutableBufferPointer { g in
                    BLAS.sgemm(
                        transA: false, transB: true, m: n, n: k, k: d, a: x.baseAddress!, lda: d,
                        b: c.baseAddress!, ldb: d, c: g.baseAddress!, ldc: k)
                }
                for i in 0..<n { var s: Float = 0; for j in 0..<d { s += x[i * d + j] * x[i * d + j] }; pointNorms[i] = s }
                for a in 0..<k { var s: Float = 0; for j in 0..<d { s += c[a * d + j] * c[a * d + j] }; centreNorms[a] = s }
            }
        }
        var total = 0.0
        for i in 0..<n {
            var best = 0
            var bestDistance = Float.infinity
            for a in 0..<k {
                let dist = pointNorms[i] - 2 * dots[i * k + a] + centreNorms[a]
                if dist < bestDistance { bestDistance = dist; best = a }
            }
            assignments[i] = best
            distances[i] = max(0, bestDistance)
            total += Double(distances[i])
        }
        return total
    }
}
