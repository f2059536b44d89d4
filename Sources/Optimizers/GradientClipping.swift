// Gradient clipping by global L2 norm, as torch.nn.utils.clip_grad_norm_ (norm_type 2).

/// The L2 norm ‖g‖₂ of a flat gradient buffer, accumulated in Double.
public func globalNorm(_ g: UnsafeBufferPointer<Float>) -> Float {
    var s = 0.0
    for x in g { s += Double(x) * Double(x) }
    return Float(s.squareRoot())
}

/// Clip `gradients` to global L2 norm at most `maxNorm`; returns the norm before clipping.
///
/// As torch: with N = ‖g‖₂ and c = maxNorm / (N + 1e-6), every element is multiplied by c when
/// c < 1, otherwise left unchanged. A non-finite norm (NaN/Inf in the gradient) leaves the
/// gradients unchanged and is returned as is, so the caller can skip the step.
@discardableResult
public func clipGradientNorm(_ gradients: UnsafeMutableBufferPointer<Float>, maxNorm: Float) -> Float {
    precondition(maxNorm > 0, "maxNorm \(maxNorm) must be positive")
    let norm = globalNorm(UnsafeBufferPointer(gradients))
    guard norm.isFinite else { return norm }
    let coefficient = maxNorm / (norm + 1e-6)
    if coefficient < 1 {
        for i in gradients.indices { gradients[i] *= coefficient }
    }
    return norm
}

/// Clip a `[Float]` gradient buffer to global L2 norm at most `maxNorm` (see the pointer form).
@discardableResult
public func clipGradientNorm(_ gradients: inout [Float], maxNorm: Float) -> Float {
    gradients.withUnsafeMutableBufferPointer { clipGradientNorm($0, maxNorm: maxNorm) }
}

/// The L2 norm of a `[Float]` gradient buffer.
public func globalNorm(_ g: [Float]) -> Float {
    g.withUnsafeBufferPointer { globalNorm($0) }
}
