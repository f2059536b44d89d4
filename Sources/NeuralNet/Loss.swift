import TensorCore

/// Classification losses returning the mean loss and dL/dlogits.
public enum Loss {
    /// Mean cross-entropy of logits [B, K] against labels in [0, K); gradient (softmax − onehot)/B.
    public static func crossEntropy(logits: Tensor, labels: [Int]) -> (loss: Float, gradient: Tensor) {
        precondition(logits.rank == 2 && logits.shape[0] == labels.count, "logits \(logits.shape) vs \(labels.count) labels")
        var g = Tensor(shape: logits.shape)
        let l = logits.withUnsafeBufferPointer { px in g.withUnsafeMutableBufferPointer { pg in
            Softmax.crossEntropy(rows: logits.shape[0], width: logits.shape[1], logits: px.baseAddress!, labels: labels,
                                 grad: pg.baseAddress!)
        } }
        return (l, g)
    }

    /// Soft-target cross-entropy at temperature T (×T², Hinton); targets [B, K] rows sum to 1.
    public static func softCrossEntropy(logits: Tensor, targets: Tensor, temperature: Float = 1) -> (loss: Float, gradient: Tensor) {
        precondition(logits.shape == targets.shape, "logits \(logits.shape) vs targets \(targets.shape)")
        var g = Tensor(shape: logits.shape)
        let l = logits.withUnsafeBufferPointer { px in targets.withUnsafeBufferPointer { pt in g.withUnsafeMutableBufferPointer { pg in
            Softmax.softCrossEntropy(rows: logits.shape[0], width: logits.shape[1], logits: px.baseAddress!,
                                     targets: pt.baseAddress!, temperature: temperature, grad: pg.baseAddress!)
        } } }
        return (l, g)
    }
}
