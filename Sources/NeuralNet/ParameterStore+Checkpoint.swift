import Foundation
import TensorCore

/// A checkpoint: every parameter slot as an F32 safetensors tensor under its slot name, and the model's
/// self-description (architecture, data set, σ, command, code version) as `__metadata__`.
extension ParameterStore {
    /// Write all parameters (plus `extra` tensors, e.g. optimizer state or pruning masks) atomically.
    public func save(to url: URL, metadata: [String: String], extra: [(name: String, tensor: Tensor)] = []) throws {
        var tensors = slots.map { (name: $0.name, tensor: tensor($0)) }
        tensors.append(contentsOf: extra)
        try SafeTensorsWriter.write(tensors: tensors, metadata: metadata, to: url)
    }

    /// Load every slot from a checkpoint. Each slot must be present with exactly its shape and finite values;
    /// with `allowUnexpected == false`, tensors in the file that match no slot (other than `ignoring` prefixes)
    /// are an error too, so a checkpoint of another architecture is never half-loaded.
    public func load(from file: SafeTensorsFile, allowUnexpected: Bool = false, ignoringPrefixes: [String] = []) throws {
        var loaded: [(ParameterSlot, Tensor)] = []
        for slot in slots {
            guard file.contains(slot.name) else {
                throw NeuralNetError.parameterMissing(path: file.path, tensor: slot.name)
            }
            let info = try file.info(slot.name)
            guard info.shape == slot.shape else {
                throw NeuralNetError.parameterShapeMismatch(
                    path: file.path, tensor: slot.name,
                    expected: slot.shape, found: info.shape)
            }
            let t = try file.float32(slot.name)
            guard t.isFinite else { throw NeuralNetError.parameterNotFinite(path: file.path, tensor: slot.name) }
            loaded.append((slot, t))
        }
        if !allowUnexpected {
            let known = Set(slots.map(\.name))
            if let extra = file.names.first(where: { n in !known.contains(n) && !ignoringPrefixes.contains { n.hasPrefix($0) } }) {
                throw NeuralNetError.parameterUnexpected(path: file.path, tensor: extra)
            }
        }
        for (slot, t) in loaded { set(slot, t) }  // only after every check passed: all or nothing
    }
}
