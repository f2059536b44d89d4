import NeuralNet
import TensorCore

/// The masks of every prunable matrix of a model, by parameter-slot name. Masked forward = weights zeroed in the
/// store (`apply`); masked updates = gradients zeroed before the optimizer step (`maskGradients`), and `apply`
/// again after it (weight decay or momentum cannot revive a pruned weight).
public struct MaskSet: Sendable, Equatable, Codable {
    public var masks: [String: PruningMask]

    public init(masks: [String: PruningMask]) { self.masks = masks }

    /// Dense masks of `names` in `store` (every name must be a slot).
    public init(dense names: [String], in store: ParameterStore) throws {
        var m: [String: PruningMask] = [:]
        for n in names {
            guard let slot = store.slot(named: n) else { throw PruningError.maskMismatch(matrix: n, reason: "no such parameter") }
            m[n] = PruningMask(dense: slot.count)
        }
        masks = m
    }

    /// Sorted matrix names (the order matrices are indexed in for the random keys).
    public var names: [String] { masks.keys.sorted() }

    /// Check every mask against the store: the slot exists and has as many weights.
    public func validate(against store: ParameterStore) throws {
        for (n, mask) in masks {
            guard let slot = store.slot(named: n) else { throw PruningError.maskMismatch(matrix: n, reason: "no such parameter") }
            guard slot.count == mask.count else {
                throw PruningError.maskMismatch(matrix: n, reason: "\(mask.count) mask entries for \(slot.count) weights \(slot.shape)")
            }
        }
    }

    /// Zero the pruned weights.
    public func apply(to store: ParameterStore) {
        for (n, mask) in masks {
            let slot = store.slot(named: n)!
            for (j, k) in mask.keep.enumerated() where !k { store.values[slot.offset + j] = 0 }
        }
    }

    /// Zero the gradients of pruned weights.
    public func maskGradients(_ store: ParameterStore) {
        for (n, mask) in masks {
            let slot = store.slot(named: n)!
            for (j, k) in mask.keep.enumerated() where !k { store.gradients[slot.offset + j] = 0 }
        }
    }

    /// Kept and total weights over all masked matrices; overall sparsity.
    public var kept: Int { masks.values.reduce(0) { $0 + $1.kept } }
    public var total: Int { masks.values.reduce(0) { $0 + $1.count } }
    public var sparsity: Double { total == 0 ? 0 : 1 - Double(kept) / Double(total) }
}

/// Which matrices are pruned (docs/models.md §4): the encoder's linear weights of BERT-family models (Q, K, V,
/// attention output, FFN in, FFN out; embeddings, LayerNorms, biases and the classifier untouched); the
/// convolutions of the DEQ-S block and injection (the head untouched).
public enum PrunableMatrices {
    public static func names(in store: ParameterStore) -> [String] {
        store.slots.map(\.name).filter { isPrunable($0) }.sorted()
    }

    public static func isPrunable(_ name: String) -> Bool {
        if name.hasPrefix("encoder.layer.") {
            return [
                "attention.self.query.weight", "attention.self.key.weight", "attention.self.value.weight",
                "attention.output.dense.weight", "intermediate.dense.weight", "output.dense.weight",
            ]
            .contains { name.hasSuffix("." + $0) }
        }
        return ["block.conv1.weight", "block.conv2.weight", "inject.conv.weight"].contains(name)
    }
}

/// Masks stored in a checkpoint beside the weights: tensor `mask.<parameter>` of the parameter's shape, F32 0/1.
extension MaskSet {
    public static let tensorPrefix = "mask."

    /// The tensors to store: one per masked matrix (1 = kept, 0 = pruned), with the matrix's shape.
    public func tensors(shapes store: ParameterStore) -> [(name: String, tensor: Tensor)] {
        names.map { n in
            let slot = store.slot(named: n)!
            return (Self.tensorPrefix + n, Tensor(shape: slot.shape, scalars: masks[n]!.keep.map { $0 ? 1 : 0 }))
        }
    }

    /// The masks stored in `file` for the parameters of `store` (nil when the file has none). Every mask must
    /// name a parameter of the model, have its shape, hold only 0 and 1, and every pruned weight must be zero.
    public static func read(from file: SafeTensorsFile, for store: ParameterStore) throws -> MaskSet? {
        let maskNames = file.names.filter { $0.hasPrefix(tensorPrefix) }
        guard !maskNames.isEmpty else { return nil }
        var out: [String: PruningMask] = [:]
        for tensorName in maskNames {
            let n = String(tensorName.dropFirst(tensorPrefix.count))
            guard let slot = store.slot(named: n) else { throw PruningError.maskMismatch(matrix: n, reason: "the model has no such parameter") }
            let t = try file.float32(tensorName)
            guard t.shape == slot.shape else {
                throw PruningError.maskMismatch(matrix: n, reason: "mask shape \(t.shape), weights \(slot.shape)")
            }
            var keep = [Bool](repeating: true, count: t.count)
            for (j, v) in t.scalars.enumerated() {
                guard v == 0 || v == 1 else { throw PruningError.maskMismatch(matrix: n, reason: "entry \(j) is \(v), not 0 or 1") }
                keep[j] = v == 1
                if !keep[j] && store.values[slot.offset + j] != 0 {
                    throw PruningError.maskMismatch(matrix: n, reason: "weight \(j) is pruned by the mask but not zero")
                }
            }
            out[n] = PruningMask(keep: keep)
        }
        return MaskSet(masks: out)
    }
}
