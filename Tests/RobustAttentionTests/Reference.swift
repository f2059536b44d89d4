// A direct, double-precision reference of the robust IRLS combiner (distances by explicit differences, no GEMM),
// with optionally frozen weights (the detached gradient's function).
import RobustAttention

struct ReferenceRobust {
    var penalty: RobustPenalty
    var steps: Int
    var epsilon: Double = 1e-2
    var stepSize: Double = 1

    func weight(_ r: Double) -> Double {
        let e = epsilon
        switch penalty {
        case .l1: return 1 / (r + e)
        case .huber(let d): return min(1, Double(d) / (r + e))
        case .mcp(let g): return max(e, 1 / (r + e) - 1 / Double(g))
        case .huberMCP(let d0, let g0):
            let d = Double(d0), g = Double(g0)
            return min(1, max(e, (d / (g - d)) * (g / (r + e) - 1)))
        }
    }

    /// Output [G·T·d] and the weights W of every (step, group) — `frozen` replaces them (detached weights).
    func forward(a: [Double], v: [Double], g: Int, t: Int, d: Int, frozen: [[Double]]? = nil) -> ([Double], [[Double]]) {
        var out = [Double](repeating: 0, count: g * t * d)
        var weights: [[Double]] = []
        for grp in 0..<g {
            let A = Array(a[(grp * t * t)..<((grp + 1) * t * t)]), V = Array(v[(grp * t * d)..<((grp + 1) * t * d)])
            var z = [Double](repeating: 0, count: t * d)
            for i in 0..<t { for j in 0..<t { for c in 0..<d { z[i * d + c] += A[i * t + j] * V[j * d + c] } } }
            for k in 0..<steps {
                var w = [Double](repeating: 0, count: t * t)
                if let frozen {
                    w = frozen[k * g + grp]
                } else {
                    for i in 0..<t {
                        for j in 0..<t {
                            var s = 0.0
                            for c in 0..<d { let x = z[i * d + c] - V[j * d + c]; s += x * x }
                            w[i * t + j] = weight(s.squareRoot())
                        }
                    }
                }
                weights.append(w)
                var next = [Double](repeating: 0, count: t * d)
                for i in 0..<t {
                    var s = 0.0
                    for j in 0..<t { s += w[i * t + j] * A[i * t + j] }
                    for j in 0..<t {
                        let ah = s > 0 ? w[i * t + j] * A[i * t + j] / s : A[i * t + j]
                        for c in 0..<d { next[i * d + c] += ah * V[j * d + c] }
                    }
                    for c in 0..<d { next[i * d + c] = (1 - stepSize) * z[i * d + c] + stepSize * next[i * d + c] }
                }
                z = next
            }
            for k in 0..<(t * d) { out[grp * t * d + k] = z[k] }
        }
        // Reorder weights to [step][group] → index k·g + grp.
        var ordered = [[Double]](repeating: [], count: steps * g)
        for grp in 0..<g { for k in 0..<steps { ordered[k * g + grp] = weights[grp * steps + k] } }
        return (out, ordered)
    }
}
