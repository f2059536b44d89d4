// Elementwise arithmetic and reductions on tensors of equal shape.

extension Tensor {
    /// Elementwise a + b.
    public static func + (a: Tensor, b: Tensor) -> Tensor { a.zipped(b, +) }
    /// Elementwise a − b.
    public static func - (a: Tensor, b: Tensor) -> Tensor { a.zipped(b, -) }
    /// Elementwise a ⊙ b.
    public static func * (a: Tensor, b: Tensor) -> Tensor { a.zipped(b, *) }
    /// Scalar multiple s·a.
    public static func * (s: Float, a: Tensor) -> Tensor { a.mapped { s * $0 } }

    /// a += b in place.
    public static func += (a: inout Tensor, b: Tensor) {
        precondition(a.shape == b.shape, "shapes differ: \(a.shape) vs \(b.shape)")
        a.withUnsafeMutableBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                for i in 0..<pa.count { pa[i] += pb[i] }
            }
        }
    }

    /// self += α·x (axpy).
    public mutating func add(_ x: Tensor, scaledBy alpha: Float) {
        precondition(shape == x.shape, "shapes differ: \(shape) vs \(x.shape)")
        withUnsafeMutableBufferPointer { p in
            x.withUnsafeBufferPointer { q in
                for i in 0..<p.count { p[i] += alpha * q[i] }
            }
        }
    }

    /// Apply `f` to every element.
    public func mapped(_ f: (Float) -> Float) -> Tensor { Tensor(shape: shape, scalars: scalars.map(f)) }

    /// Combine two tensors of equal shape elementwise.
    public func zipped(_ other: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        precondition(shape == other.shape, "shapes differ: \(shape) vs \(other.shape)")
        var out = self
        out.withUnsafeMutableBufferPointer { p in
            other.withUnsafeBufferPointer { q in
                for i in 0..<p.count { p[i] = f(p[i], q[i]) }
            }
        }
        return out
    }

    /// Σ elements (Double accumulation).
    public func sum() -> Double { scalars.reduce(0.0) { $0 + Double($1) } }
    /// Σ x² (Double accumulation).
    public func squaredNorm() -> Double { scalars.reduce(0.0) { $0 + Double($1) * Double($1) } }
    /// max |x|.
    public func maxAbs() -> Float { scalars.reduce(0) { max($0, abs($1)) } }

    /// Index of the largest element in each row of a [R, D] tensor (first on ties).
    public func argmaxRows() -> [Int] {
        let d = shape.last!, r = count / d
        return (0..<r).map { i in
            var best = 0, bv = scalars[i * d]
            for j in 1..<d where scalars[i * d + j] > bv { bv = scalars[i * d + j]; best = j }
            return best
        }
    }
}
