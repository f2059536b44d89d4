// Softmax, log-softmax and cross-entropy over the last axis: R rows of width D.
import Foundation

/// Row-wise softmax family.
public enum Softmax {
    /// y = softmax(x) row-wise (max-subtracted). May run in place.
    public static func forward(rows r: Int, width d: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        for i in 0..<r {
            let xr = x + i * d, yr = y + i * d
            var mx = -Float.infinity
            for j in 0..<d { mx = max(mx, xr[j]) }
            var s: Float = 0
            for j in 0..<d { let e = exp(xr[j] - mx); yr[j] = e; s += e }
            let inv = 1 / s
            for j in 0..<d { yr[j] *= inv }
        }
    }

    /// dx = y ⊙ (dy − ⟨dy, y⟩) row-wise, from the softmax output y.
    public static func backward(
        rows r: Int, width d: Int, output y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>
    ) {
        for i in 0..<r {
            let yr = y + i * d, gr = dy + i * d, out = dx + i * d
            var dot: Float = 0
            for j in 0..<d { dot += yr[j] * gr[j] }
            for j in 0..<d { out[j] = yr[j] * (gr[j] - dot) }
        }
    }

    /// y = x − logΣexp(x) row-wise. May run in place.
    public static func logForward(rows r: Int, width d: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        for i in 0..<r {
            let xr = x + i * d, yr = y + i * d
            var mx = -Float.infinity
            for j in 0..<d { mx = max(mx, xr[j]) }
            var s: Float = 0
            for j in 0..<d { s += exp(xr[j] - mx) }
            let lse = mx + log(s)
            for j in 0..<d { yr[j] = xr[j] - lse }
        }
    }

    /// dx = dy − softmax(x)·Σdy row-wise, from the log-softmax output y.
    public static func logBackward(
        rows r: Int, width d: Int, output y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>
    ) {
        for i in 0..<r {
            let yr = y + i * d, gr = dy + i * d, out = dx + i * d
            var s: Float = 0
            for j in 0..<d { s += gr[j] }
            for j in 0..<d { out[j] = gr[j] - exp(yr[j]) * s }
        }
    }

    /// Mean cross-entropy L = −(1/R) Σ_i log softmax(x_i)[label_i]; writes dL/dx = (softmax − onehot)/R
    /// into `grad` when given. Labels must lie in [0, D).
    @discardableResult
    public static func crossEntropy(
        rows r: Int, width d: Int, logits x: UnsafePointer<Float>, labels: [Int],
        grad: UnsafeMutablePointer<Float>?
    ) -> Float {
        precondition(labels.count == r, "labels \(labels.count) for \(r) rows")
        var total: Double = 0
        let invR = 1 / Float(r)
        for i in 0..<r {
            let xr = x + i * d, lab = labels[i]
            precondition(lab >= 0 && lab < d, "label \(lab) outside [0, \(d))")
            var mx = -Float.infinity
            for j in 0..<d { mx = max(mx, xr[j]) }
            var s: Float = 0
            for j in 0..<d { s += exp(xr[j] - mx) }
            let lse = mx + log(s)
            total += Double(lse - xr[lab])
            if let grad {
                let gr = grad + i * d
                for j in 0..<d { gr[j] = exp(xr[j] - lse) * invR }
                gr[lab] -= invR
            }
        }
        return Float(total / Double(r))
    }

    /// Mean soft-target cross-entropy L = −(1/R) Σ_i Σ_j t_ij log softmax(x_i / T)_j · T²
    /// (Hinton distillation scaling); gradient dL/dx = T·(softmax(x/T) − t)/R. Targets rows sum to 1.
    @discardableResult
    public static func softCrossEntropy(
        rows r: Int, width d: Int, logits x: UnsafePointer<Float>,
        targets t: UnsafePointer<Float>, temperature: Float = 1,
        grad: UnsafeMutablePointer<Float>?
    ) -> Float {
        var total: Double = 0
        let invT = 1 / temperature
        for i in 0..<r {
            let xr = x + i * d, tr = t + i * d
            var mx = -Float.infinity
            for j in 0..<d { mx = max(mx, xr[j] * invT) }
            var s: Float = 0
            for j in 0..<d { s += exp(xr[j] * invT - mx) }
            let lse = mx + log(s)
            for j in 0..<d { total -= Double(tr[j] * (xr[j] * invT - lse)) }
            if let grad {
                let gr = grad + i * d
                for j in 0..<d { gr[j] = temperature * (exp(xr[j] * invT - lse) - tr[j]) / Float(r) }
            }
        }
        return Float(total / Double(r)) * temperature * temperature
    }
}
