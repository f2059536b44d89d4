/// A dense, row-major, copy-on-write Float32 tensor.
///
/// Storage is a Swift `[Float]`, so copies are cheap until one side mutates (copy-on-write),
/// and the value is `Sendable`. Image batches are channels-last: `[B, H, W, C]`.
/// Kernels work on raw pointers (`withUnsafeBufferPointer`); this type only carries shape and data.
public struct Tensor: Sendable, Equatable {
    /// Extent of each axis, outermost first. The empty shape is a scalar (one element).
    public private(set) var shape: [Int]
    /// The elements in row-major order; `scalars.count == shape.reduce(1, *)`.
    public var scalars: [Float]

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        self.shape = shape
        self.scalars = [Float](repeating: value, count: shape.reduce(1, *))
    }

    /// A tensor of `shape` whose elements `fill` writes, without a zero-fill pass first (for kernels that write
    /// their whole output). `fill` must write every element.
    public init(shape: [Int], fillingEveryElement fill: (UnsafeMutableBufferPointer<Float>) -> Void) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        let count = shape.reduce(1, *)
        self.shape = shape
        self.scalars = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            fill(buffer)
            initialized = count
        }
    }

    /// A tensor of `shape` holding `scalars` (row-major).
    public init(shape: [Int], scalars: [Float]) {
        precondition(
            shape.reduce(1, *) == scalars.count,
            "shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    /// Number of elements.
    @inlinable public var count: Int { scalars.count }
    /// Number of axes.
    @inlinable public var rank: Int { shape.count }

    /// The same data viewed with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, scalars: scalars)
    }

    /// Reinterpret in place with another shape of equal element count.
    public mutating func reshape(_ newShape: [Int]) {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        shape = newShape
    }

    /// Read-only access to the elements.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try scalars.withUnsafeBufferPointer(body)
    }

    /// Mutable access to the elements (copies first if the storage is shared).
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        try scalars.withUnsafeMutableBufferPointer(body)
    }

    /// Element at a multi-index (slow; for tests and small tools).
    public subscript(_ index: Int...) -> Float {
        get { scalars[flatIndex(index)] }
        set { scalars[flatIndex(index)] = newValue }
    }

    private func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) does not match shape \(shape)")
        var flat = 0
        for (i, n) in zip(index, shape) {
            precondition(i >= 0 && i < n, "index \(index) out of range for shape \(shape)")
            flat = flat * n + i
        }
        return flat
    }

    /// Rows `start..<end` of the outermost axis (a copy).
    public func slice(rows range: Range<Int>) -> Tensor {
        precondition(!shape.isEmpty && range.lowerBound >= 0 && range.upperBound <= shape[0])
        let inner = shape.dropFirst().reduce(1, *)
        var newShape = shape
        newShape[0] = range.count
        return Tensor(
            shape: newShape,
            scalars: Array(scalars[(range.lowerBound * inner)..<(range.upperBound * inner)]))
    }

    /// Concatenate tensors along the outermost axis; all other extents must agree.
    public static func concatenate(rows parts: [Tensor]) -> Tensor {
        precondition(!parts.isEmpty)
        let inner = Array(parts[0].shape.dropFirst())
        var all: [Float] = []
        all.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        var rows = 0
        for p in parts {
            precondition(Array(p.shape.dropFirst()) == inner, "row shapes differ: \(p.shape) vs \(inner)")
            all.append(contentsOf: p.scalars)
            rows += p.shape[0]
        }
        return Tensor(shape: [rows] + inner, scalars: all)
    }

    /// True when every element is finite (no NaN or ±Inf).
    public var isFinite: Bool { scalars.allSatisfy { $0.isFinite } }
}
