// PGD on a linear softmax classifier, where the worst case inside the ball is known in closed form.
import Foundation
import TensorCore
import Testing

@testable import Attacks

/// logits = x·Wᵀ with W [K, D]; ∂(Σ CE)/∂x = (softmax − onehot)·W.
struct LinearClassifier: DifferentiableImageClassifier {
    let w: [Float], k: Int, d: Int
    func logits(_ x: Tensor) -> Tensor {
        let b = x.shape[0]
        var out = [Float](repeating: 0, count: b * k)
        for e in 0..<b { for c in 0..<k { for j in 0..<d { out[e * k + c] += x.scalars[e * d + j] * w[c * d + j] } } }
        return Tensor(shape: [b, k], scalars: out)
    }
    func logitsAndGradient(_ x: Tensor, labels: [Int]) -> (logits: Tensor, gradient: Tensor) {
        let l = logits(x), b = x.shape[0]
        var g = [Float](repeating: 0, count: x.count)
        for e in 0..<b {
            let z = Array(l.scalars[(e * k)..<((e + 1) * k)]), m = z.max()!
            let ex = z.map { expf($0 - m) }, s = ex.reduce(0, +)
            for c in 0..<k {
                let coef = ex[c] / s - (c == labels[e] ? 1 : 0)
                for j in 0..<d { g[e * d + j] += coef * w[c * d + j] }
            }
        }
        return (l, Tensor(shape: x.shape, scalars: g))
    }
}

@Suite("PGD")
struct PGDTests {
    // Two classes in 4 pixels: the margin of class 0 is (w0 − w1)·x.
    let model = LinearClassifier(w: [1, -2, 0.5, 0, -1, 2, -0.5, 0], k: 2, d: 4)
    let x = Tensor(shape: [2, 2, 2, 1], scalars: [0.5, 0.5, 0.5, 0.5, 0.2, 0.9, 0.4, 0.0])

    @Test("L∞: reaches the closed-form worst case x − ε·sign(w0 − w1) (clipped), inside the ball and [0, 1]")
    func linfOptimum() throws {
        let eps: Float = 0.1
        let pgd = try PGDAttack(norm: .linf, epsilon: eps, stepSize: 0.03, steps: 20, seed: 1)
        let adv = pgd.perturb(x, labels: [0, 0], examples: [0, 1], model: model)
        let sign: [Float] = [1, -1, 1, 0]  // sign(w0 − w1) = sign(2, −4, 1, 0)
        for e in 0..<2 {
            for j in 0..<3 {
                let i = e * 4 + j
                let expected = min(max(x.scalars[i] - eps * sign[j], 0), 1)
                #expect(abs(adv.scalars[i] - expected) < 1e-5, "example \(e) pixel \(j): \(adv.scalars[i]) vs \(expected)")
            }
        }
        for i in 0..<8 { #expect(abs(adv.scalars[i] - x.scalars[i]) <= eps + 1e-6 && adv.scalars[i] >= 0 && adv.scalars[i] <= 1) }
        // Seeded: identical again; ε = 0 leaves the input alone.
        #expect(pgd.perturb(x, labels: [0, 0], examples: [0, 1], model: model) == adv)
        #expect(try PGDAttack(norm: .linf, epsilon: 0, stepSize: 0.1, steps: 3).perturb(x, labels: [0, 0], examples: [0, 1], model: model) == x)
    }

    @Test("L2: the perturbation stays in the ball and lowers the margin as far as the closed form allows")
    func l2Ball() throws {
        let eps: Float = 0.3
        let adv = try PGDAttack(norm: .l2, epsilon: eps, stepSize: 0.1, steps: 40, seed: 2)
            .perturb(x, labels: [0, 0], examples: [0, 1], model: model)
        let w = [Float(2), -4, 1, 0], wn = (4 + 16 + 1 as Float).squareRoot()
        // Example 0 (x = 0.5 everywhere: no clipping binds): the margin drops by exactly ε‖w0 − w1‖.
        var before: Float = 0, after: Float = 0, norm: Float = 0
        for j in 0..<4 {
            before += w[j] * x.scalars[j]; after += w[j] * adv.scalars[j]
            norm += (adv.scalars[j] - x.scalars[j]) * (adv.scalars[j] - x.scalars[j])
        }
        #expect(norm.squareRoot() <= eps + 1e-5)
        #expect(abs((before - after) - eps * wn) < 1e-3, "margin drop \(before - after) vs \(eps * wn)")
    }

    @Test("bad PGD settings are refused")
    func badSettings() {
        #expect(throws: AttackError.self) { try PGDAttack(norm: .linf, epsilon: -1, stepSize: 0.1, steps: 3) }
        #expect(throws: AttackError.self) { try PGDAttack(norm: .linf, epsilon: 0.1, stepSize: 0, steps: 3) }
        #expect(throws: AttackError.self) { try PGDAttack(norm: .l2, epsilon: 0.1, stepSize: 0.1, steps: 0) }
    }
}
