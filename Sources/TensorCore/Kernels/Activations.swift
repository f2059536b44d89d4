// Pointwise activations with their backward passes (n elements each).
import Foundation

/// Elementwise nonlinearities.
public enum Activation {
    /// y = max(x, 0). May run in place (y == x).
    @inlinable
    public static func reluForward(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        for i in 0..<n { y[i] = max(x[i], 0) }
    }

    /// dx = dy · 1[y > 0] (uses the forward output y, or the input: same sign set). May run in place.
    @inlinable
    public static func reluBackward(
        _ n: Int, output y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>
    ) {
        for i in 0..<n { dx[i] = y[i] > 0 ? dy[i] : 0 }
    }

    /// GELU, exact form: y = ½x(1 + erf(x/√2)), erf vectorised (`VectorMath.erf`, absolute error ≲ 5e-7).
    public static func geluForward(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        let r = Float(0.5.squareRoot())
        VectorMath.map(n, x, y) { v in 0.5 * v * (1 + VectorMath.erf(v * r)) }
    }

    /// dx = dy · (Φ(x) + x·φ(x)), Φ(x) = ½(1 + erf(x/√2)), φ(x) = e^{−x²/2}/√(2π).
    public static func geluBackward(
        _ n: Int, input x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>
    ) {
        let r = Float(0.5.squareRoot()), c = Float(1 / (2 * Double.pi).squareRoot())
        for i in 0..<n {
            let v = x[i]
            dx[i] = dy[i] * (0.5 * (1 + erf(v * r)) + v * c * exp(-0.5 * v * v))
        }
    }
}
