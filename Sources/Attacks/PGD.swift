import Foundation
import TensorCore

/// An image classifier an attacker can differentiate: inputs x [B, H, W, C] in [0, 1] pixel space (any
/// normalisation is the model's own business, inside these calls).
public protocol DifferentiableImageClassifier {
    /// Logits [B, K].
    func logits(_ x: Tensor) -> Tensor
    /// Logits and ∂L/∂x of the summed cross-entropy L = Σ_b −log softmax(logits_b)[y_b].
    func logitsAndGradient(_ x: Tensor, labels: [Int]) -> (logits: Tensor, gradient: Tensor)
}

/// Projected gradient descent (Madry et al.) on the cross-entropy, untargeted, with a random start:
///
///     L∞: x⁰ = clip(x + U(−ε, ε)), xᵏ⁺¹ = Π(xᵏ + α·sign(∇L)),           Π = clip to [x − ε, x + ε] ∩ [0, 1]
///     L2: x⁰ = clip(x + ε·u^(1/D)·n/‖n‖), xᵏ⁺¹ = Π(xᵏ + α·∇L/‖∇L‖₂),   Π = scale δ to ‖δ‖₂ ≤ ε, then clip to [0, 1]
///
/// per example, with the random start keyed by (seed, example index): the same example gets the same start on any
/// rank. ε = 0 returns x.
public struct PGDAttack: Sendable, Equatable {
    public enum Norm: String, Sendable, CaseIterable, Codable { case linf, l2 }
    public var norm: Norm
    public var epsilon: Float
    public var stepSize: Float
    public var steps: Int
    public var randomStart: Bool
    public var seed: UInt64

    public init(norm: Norm, epsilon: Float, stepSize: Float, steps: Int, randomStart: Bool = true, seed: UInt64 = 0) throws {
        guard epsilon >= 0, epsilon.isFinite else { throw AttackError.invalidOption(name: "epsilon", value: "\(epsilon)", reason: "must be ≥ 0") }
        guard stepSize > 0, stepSize.isFinite else { throw AttackError.invalidOption(name: "step-size", value: "\(stepSize)", reason: "must be > 0") }
        guard steps >= 1 else { throw AttackError.invalidOption(name: "steps", value: "\(steps)", reason: "must be ≥ 1") }
        self.norm = norm; self.epsilon = epsilon; self.stepSize = stepSize; self.steps = steps
        self.randomStart = randomStart; self.seed = seed
    }

    /// Adversarial examples for a batch x [B, …] with labels; `examples` are the dataset indices (for the seeds).
    public func perturb(_ x: Tensor, labels: [Int], examples: [Int], model: some DifferentiableImageClassifier) -> Tensor {
        let b = x.shape[0], d = x.count / Swift.max(1, b)
        precondition(labels.count == b && examples.count == b)
        guard epsilon > 0 else { return x }
        var adv = x
        if randomStart {
            adv.withUnsafeMutableBufferPointer { a in
                x.withUnsafeBufferPointer { x0 in
                    for e in 0..<b {
                        var rng = RandomStream(seed: seed, 0x5047_4400, UInt32(truncatingIfNeeded: examples[e]))
                        switch norm {
                        case .linf:
                            for k in 0..<d { a[e * d + k] = x0[e * d + k] + epsilon * (2 * rng.nextUniformFloat() - 1) }
                        case .l2:
                            var n = [Float](repeating: 0, count: d), s: Float = 0
                            for k in 0..<d { n[k] = rng.nextGaussianFloat(); s += n[k] * n[k] }
                            let r = epsilon * Float(pow(rng.nextUniform(), 1 / Double(d))) / Swift.max(s.squareRoot(), 1e-12)
                            for k in 0..<d { a[e * d + k] = x0[e * d + k] + r * n[k] }
                        }
                    }
                }
            }
            project(&adv, around: x, batch: b)
        }
        for _ in 0..<steps {
            let g = model.logitsAndGradient(adv, labels: labels).gradient
            adv.withUnsafeMutableBufferPointer { a in
                g.withUnsafeBufferPointer { g in
                    for e in 0..<b {
                        switch norm {
                        case .linf:
                            for k in 0..<d { let v = g[e * d + k]; a[e * d + k] += v > 0 ? stepSize : v < 0 ? -stepSize : 0 }
                        case .l2:
                            var s: Float = 0
                            for k in 0..<d { s += g[e * d + k] * g[e * d + k] }
                            guard s > 0 else { continue }
                            let scale = stepSize / s.squareRoot()
                            for k in 0..<d { a[e * d + k] += scale * g[e * d + k] }
                        }
                    }
                }
            }
            project(&adv, around: x, batch: b)
        }
        return adv
    }

    /// Π: back into the ε-ball around x, then into [0, 1].
    func project(_ adv: inout Tensor, around x: Tensor, batch b: Int) {
        let d = x.count / Swift.max(1, b)
        adv.withUnsafeMutableBufferPointer { a in
            x.withUnsafeBufferPointer { x0 in
                for e in 0..<b {
                    switch norm {
                    case .linf:
                        for k in 0..<d {
                            let i = e * d + k
                            a[i] = Swift.min(Swift.max(a[i], x0[i] - epsilon), x0[i] + epsilon)
                        }
                    case .l2:
                        var s: Float = 0
                        for k in 0..<d { let v = a[e * d + k] - x0[e * d + k]; s += v * v }
                        let n = s.squareRoot()
                        if n > epsilon {
                            let f = epsilon / n
                            for k in 0..<d { let i = e * d + k; a[i] = x0[i] + f * (a[i] - x0[i]) }
                        }
                    }
                    for k in 0..<d { let i = e * d + k; a[i] = Swift.min(Swift.max(a[i], 0), 1) }
                }
            }
        }
    }
}
