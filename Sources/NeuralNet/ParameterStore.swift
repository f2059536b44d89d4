import Foundation
import TensorCore

/// A named, shaped view into a model's flat parameter buffer: elements `offset ..< offset + count`.
public struct ParameterSlot: Sendable, Equatable, Hashable {
    /// Checkpoint name, e.g. `conv1.weight` (PyTorch conventions; linear and conv weights are [out, in, …]).
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
    public var range: Range<Int> { offset..<(offset + count) }
}

/// How a parameter is initialised (PyTorch's defaults where one exists).
public enum Initializer: Sendable, Equatable {
    case zeros
    case ones
    case constant(Float)
    /// U(−b, b) with b = 1/√fanIn (PyTorch's default for Linear/Conv weights and biases).
    case fanInUniform(fanIn: Int)
    /// U(−b, b) with b = √(6/fanIn) (Kaiming/He uniform for ReLU nets).
    case kaimingUniform(fanIn: Int)
    /// N(0, std²).
    case normal(std: Float)
    /// U(low, high).
    case uniform(low: Float, high: Float)
}

/// All parameters and gradients of one model, each in ONE flat Float buffer with named slots.
///
/// A data-parallel all-reduce is one call on `gradients`; an optimizer steps `values` with `gradients`;
/// a checkpoint is the set of slots written as safetensors. Layers hold their `ParameterSlot`s.
/// Initialisation is deterministic: slot i draws from the counter-based stream keyed by (seed, i).
public final class ParameterStore {
    public private(set) var slots: [ParameterSlot] = []
    public var values: [Float] = [] { didSet { generation &+= 1 } }
    /// Advances on every change of `values` (however it is made): derived forms of a parameter (`derived`) are
    /// recomputed when it moved.
    public private(set) var generation: UInt64 = 0
    private let derivedLock = NSLock()
    private var derivedValues: [String: (generation: UInt64, values: [Float])] = [:]
    public var gradients: [Float] = []
    /// When false, layers' backward passes compute only input gradients (dL/dx) and leave `gradients`
    /// untouched (e.g. the vector–Jacobian products of a DEQ's adjoint solve). Default true.
    public var accumulatesGradients = true
    /// Seed of the initialisers.
    public let seed: UInt64
    private var index: [String: Int] = [:]

    public init(seed: UInt64 = 0) { self.seed = seed }

    /// Total number of scalars.
    public var count: Int { values.count }

    /// Add a parameter and initialise it. Names must be unique.
    @discardableResult
    public func register(_ name: String, shape: [Int], initializer: Initializer) -> ParameterSlot {
        precondition(index[name] == nil, "parameter \(name) registered twice")
        let slot = ParameterSlot(name: name, shape: shape, offset: values.count)
        var stream = RandomStream(seed: seed, 0x5041_5241, UInt32(slots.count), 0)  // "PARA", slot index
        let n = slot.count
        let initial: [Float]
        switch initializer {
        case .zeros: initial = [Float](repeating: 0, count: n)
        case .ones: initial = [Float](repeating: 1, count: n)
        case .constant(let c): initial = [Float](repeating: c, count: n)
        case .fanInUniform(let fanIn):
            let b = 1 / Float(fanIn).squareRoot()
            initial = stream.uniform(shape: [n], low: -b, high: b).scalars
        case .kaimingUniform(let fanIn):
            let b = (6 / Float(fanIn)).squareRoot()
            initial = stream.uniform(shape: [n], low: -b, high: b).scalars
        case .normal(let std): initial = stream.gaussian(shape: [n], mean: 0, std: std).scalars
        case .uniform(let lo, let hi): initial = stream.uniform(shape: [n], low: lo, high: hi).scalars
        }
        values.append(contentsOf: initial)
        gradients.append(contentsOf: [Float](repeating: 0, count: n))
        index[name] = slots.count
        slots.append(slot)
        return slot
    }

    /// The slot with this name, if any.
    public func slot(named name: String) -> ParameterSlot? { index[name].map { slots[$0] } }

    /// A copy of a parameter as a tensor.
    public func tensor(_ slot: ParameterSlot) -> Tensor {
        Tensor(shape: slot.shape, scalars: Array(values[slot.range]))
    }

    /// A copy of a parameter's gradient as a tensor.
    public func gradient(_ slot: ParameterSlot) -> Tensor {
        Tensor(shape: slot.shape, scalars: Array(gradients[slot.range]))
    }

    /// Overwrite a parameter; the tensor's shape must equal the slot's.
    public func set(_ slot: ParameterSlot, _ t: Tensor) {
        precondition(t.shape == slot.shape, "parameter \(slot.name): shape \(t.shape) ≠ \(slot.shape)")
        values.replaceSubrange(slot.range, with: t.scalars)
    }

    /// Zero every gradient.
    public func zeroGradients() {
        gradients.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// Read-only pointer to a parameter's values for the duration of `body`.
    @inlinable
    public func withValues<R>(_ slot: ParameterSlot, _ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        try values.withUnsafeBufferPointer { try body($0.baseAddress! + slot.offset) }
    }

    /// A form of the parameters computed by `make` (e.g. a convolution weight repacked for its kernel), cached
    /// under `key` until `values` change. Thread-safe: ranks of one process may share a model.
    public func derived(_ key: String, _ make: () -> [Float]) -> [Float] {
        derivedLock.lock()
        defer { derivedLock.unlock() }
        if let d = derivedValues[key], d.generation == generation { return d.values }
        let v = make()
        derivedValues[key] = (generation, v)
        return v
    }

    /// Mutable pointer to a parameter's gradient for the duration of `body`.
    @inlinable
    public func withGradients<R>(_ slot: ParameterSlot, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        try gradients.withUnsafeMutableBufferPointer { try body($0.baseAddress! + slot.offset) }
    }

    /// True when every parameter is finite.
    public var isFinite: Bool { values.allSatisfy { $0.isFinite } }
}
