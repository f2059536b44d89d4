/// The mergeable result of one or more units of work: class counts of the counted samples, and the K-check
/// tallies per class. Summing `SampleCounts` of disjoint units gives the counts of their union, in any order.
public struct SampleCounts: Sendable, Equatable, Codable {
    /// counts[c] = samples predicted as c.
    public var counts: [Int64]
    /// served[c] = checked samples whose serialized prediction Y_m = c.
    public var checkServed: [Int64]
    /// agree[c] = checked samples with Y_m = Y_g = c (Y_g: the from-zero solve).
    public var checkAgree: [Int64]
    /// f-evaluations × samples spent (cost accounting).
    public var sampleEvaluations: Int64
    /// Samples counted and samples whose solve was flagged diverged.
    public var samples: Int64, divergedSamples: Int64

    public init(classes: Int) {
        counts = Array(repeating: 0, count: classes)
        checkServed = Array(repeating: 0, count: classes)
        checkAgree = Array(repeating: 0, count: classes)
        sampleEvaluations = 0; samples = 0; divergedSamples = 0
    }

    public static func + (a: SampleCounts, b: SampleCounts) -> SampleCounts {
        precondition(a.counts.count == b.counts.count, "class counts differ")
        var r = a
        for c in 0..<a.counts.count {
            r.counts[c] += b.counts[c]; r.checkServed[c] += b.checkServed[c]; r.checkAgree[c] += b.checkAgree[c]
        }
        r.sampleEvaluations += b.sampleEvaluations; r.samples += b.samples; r.divergedSamples += b.divergedSamples
        return r
    }

    public static func += (a: inout SampleCounts, b: SampleCounts) { a = a + b }

    /// The most frequent class (lowest index on ties).
    public var topClass: Int {
        var best = 0
        for c in 1..<counts.count where counts[c] > counts[best] { best = c }
        return best
    }

    /// As Int64 words for an all-reduce: counts ‖ served ‖ agree ‖ [evaluations, samples, diverged].
    public var words: [Int64] { counts + checkServed + checkAgree + [sampleEvaluations, samples, divergedSamples] }

    public init(words w: [Int64], classes k: Int) {
        precondition(w.count == 3 * k + 3)
        counts = Array(w[0..<k]); checkServed = Array(w[k..<(2 * k)]); checkAgree = Array(w[(2 * k)..<(3 * k)])
        sampleEvaluations = w[3 * k]; samples = w[3 * k + 1]; divergedSamples = w[3 * k + 2]
    }
}
