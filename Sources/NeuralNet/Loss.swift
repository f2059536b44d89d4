import Foundation
import TensorCore

/// Classification losses returning the mean loss and dL/dlogits.
public enum Loss {
    /// Mean cross-entropy of logits [B, K] against labels in [0, K); gradient (softmax − onehot)/B.
    public static func crossEntropy(logits: Tensor, labels: [Int]) -> (loss: Float, gradient: Tensor) {
        precondition(logits.rank == 2 && logits.shape[0] == labels.count, "logits \(logits.shape) vs \(labels.count) labels")
        var g = Tensor(shape: logits.shape)
        let l = logits.withUnsafeBufferPointer { px in
            g.withUnsafeMutableBufferPointer { pg in
                Softmax.crossEntropy(
                    rows: logits.shape[0], width: logits.shape[1], logits: px.baseAddress!, labels: labels,
                    grad: pg.baseAddress!)
            }
        }
        return (l, g)
    }

    /// Soft-target cross-entropy at temperature T (×T², Hinton); targets [B, K] rows sum to 1.
    public static func softCrossEntropy(logits: Tensor, targets: Tensor, temperature: Float = 1) -> (loss: Float, gradient: Tensor) {
        precondition(logits.shape == targets.shape, "logits \(logits.shape) vs targets \(targets.shape)")
        var g = Tensor(shape: logits.shape)
        let l = logits.withUnsafeBufferPointer { px in
            targets.withUnsafeBufferPointer { pt in
                g.withUnsafeMutableBufferPointer { pg in
                    Softmax.softCrossEntropy(
                        rows: logits.shape[0], width: logits.shape[1], logits: px.baseAddress!,
                        targets: pt.baseAddress!, temperature: temperature, grad: pg.baseAddress!)
                }
            }
        }
        return (l, g)
    }

    /// Row-wise softmax of logits/T [B, K] (teacher probabilities for `softCrossEntropy`).
    public static func probabilities(logits: Tensor, temperature: Float = 1) -> Tensor {
        precondition(logits.rank == 2 && temperature > 0)
        let (b, k) = (logits.shape[0], logits.shape[1])
        var p = Tensor(shape: logits.shape)
        logits.withUnsafeBufferPointer { px in
            p.withUnsafeMutableBufferPointer { pp in
                for r in 0..<b {
                    var m = -Float.infinity
                    for j in 0..<k { m = max(m, px[r * k + j] / temperature) }
                    var sum: Float = 0
                    for j in 0..<k { let e = expf(px[r * k + j] / temperature - m); pp[r * k + j] = e; sum += e }
                    for j in 0..<k { pp[r * k + j] /= sum }
                }
            }
        }
        return p
    }

    /// Mean squared error (1/N)·Σ (x − t)² over all N elements, with its gradient 2(x − t)/N.
    public static func meanSquaredError(_ x: Tensor, target: Tensor) -> (loss: Float, gradient: Tensor) {
        precondition(x.shape == target.shape, "MSE of \(x.shape) against \(target.shape)")
        let d = x - target
        let n = Float(max(x.count, 1))
        return (Float(d.squaredNorm()) / n, (2 / n) * d)
    }

    /// Knowledge distillation from a teacher (Hinton's soft targets plus TinyBERT's hidden-state term):
    /// L = (1 − a)·CE(z, y) + a·T²·H(softmax(t/T), softmax(z/T)) + b·MSE(h, h_t), with logits z and teacher
    /// logits t [B, K], hidden states h and h_t of equal shape. Returns L, dL/dz and dL/dh (nil when b = 0).
    public static func distillation(
        logits: Tensor, labels: [Int], teacherLogits: Tensor, temperature: Float,
        softWeight a: Float, hidden: Tensor? = nil, teacherHidden: Tensor? = nil,
        hiddenWeight b: Float = 0
    ) -> (loss: Float, logitsGradient: Tensor, hiddenGradient: Tensor?) {
        precondition(a >= 0 && a <= 1 && b >= 0, "distillation weights a ∈ [0, 1], b ≥ 0")
        var loss: Float = 0
        var g = Tensor(shape: logits.shape)
        if a < 1 {
            let (l, gh) = crossEntropy(logits: logits, labels: labels)
            loss += (1 - a) * l
            g.add(gh, scaledBy: 1 - a)
        }
        if a > 0 {
            let (l, gs) = softCrossEntropy(
                logits: logits, targets: probabilities(logits: teacherLogits, temperature: temperature),
                temperature: temperature)
            loss += a * l
            g.add(gs, scaledBy: a)
        }
        var gHidden: Tensor? = nil
        if b > 0, let hidden, let teacherHidden {
            let (l, gm) = meanSquaredError(hidden, target: teacherHidden)
            loss += b * l
            gHidden = b * gm
        }
        return (loss, g, gHidden)
    }
}
