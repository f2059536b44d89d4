import Equilibrium
import Foundation
import NeuralNet
import Optimizers
import Pruning
import TensorCore

/// Reading and writing DEQ checkpoints: parameters as safetensors, configuration and training provenance
/// in `__metadata__` (keys `equicert.*`), optionally the optimizer state for `--resume`.
public enum DEQCheckpoint {
    public static let architectureKey = "equicert.architecture"
    static let optimizerPrefix = "optimizer."

    /// What a checkpoint says about itself besides its parameters.
    public struct Provenance: Sendable {
        public var dataSet: String
        public var sigma: Float
        public var command: String
        public var codeVersion: String
        public var epochsDone: Int
        public var stepsDone: Int
        public var extra: [String: String] = [:]
    }

    /// Load a DEQ-S; errors name the file and the problem (missing metadata, another architecture, shapes, NaN).
    public static func load(_ path: String) throws -> (model: DEQSmall, provenance: Provenance, file: SafeTensorsFile) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CoordinatorError.checkpoint(path: path, reason: "no such file")
        }
        let file = try SafeTensorsFile(contentsOf: URL(fileURLWithPath: path))
        guard let arch = file.metadata[architectureKey] else {
            throw CoordinatorError.checkpoint(path: path, reason: "no '\(architectureKey)' in the metadata: not an equicert DEQ checkpoint")
        }
        // The distillation models share the metadata key but are no classifiers: say so rather than "unreadable JSON".
        let generative = ["latent-autoencoder": "latent autoencoder", "latent-denoiser": "latent denoiser"]
        if let kind = generative[arch] {
            throw CoordinatorError.checkpoint(
                path: path,
                reason:
                    "this is a \(kind) checkpoint (written by distill for its generative methods), not a classifier; this command needs a classifier checkpoint (DEQ-S or ViT)"
            )
        }
        let config: DEQConfiguration
        do { config = try DEQConfiguration.fromJSON(arch, path: path) } catch {
            throw CoordinatorError.checkpoint(path: path, reason: "\(error)")
        }
        let model = try DEQSmall(config)
        try model.parameters.load(from: file, ignoringPrefixes: [optimizerPrefix, MaskSet.tensorPrefix])
        try checkMasks(file, model.parameters, path: path)
        return (model, provenance(of: file), file)
    }

    /// The provenance keys of a checkpoint's metadata (absent keys: "?", NaN, empty, 0).
    static func provenance(of file: SafeTensorsFile) -> Provenance {
        let m = file.metadata
        return Provenance(
            dataSet: m["equicert.data"] ?? "?", sigma: Float(m["equicert.sigma"] ?? "") ?? .nan,
            command: m["equicert.command"] ?? "", codeVersion: m["equicert.version"] ?? "",
            epochsDone: Int(m["equicert.epochs-done"] ?? "") ?? 0,
            stepsDone: Int(m["equicert.steps-done"] ?? "") ?? 0,
            extra: m.filter { !$0.key.hasPrefix("equicert.") || $0.key.hasPrefix("equicert.train.") })
    }

    /// Whether `path` is a readable safetensors file whose architecture JSON names the "mdeq" family.
    public static func isMDEQ(_ path: String) -> Bool {
        guard let file = try? SafeTensorsFile(contentsOf: URL(fileURLWithPath: path)),
            let arch = file.metadata[architectureKey]
        else { return false }
        return equilibriumFamily(ofArchitectureJSON: arch) == "mdeq"
    }

    /// Load an MDEQ checkpoint (written by `saveMDEQ`, `equicert import` or `train --model mdeq`); errors name the
    /// file and the problem (architecture JSON, missing/unexpected/misshapen tensors, masks).
    public static func loadMDEQ(_ path: String) throws -> (model: MDEQ, provenance: Provenance, file: SafeTensorsFile) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CoordinatorError.checkpoint(path: path, reason: "no such file")
        }
        let file = try SafeTensorsFile(contentsOf: URL(fileURLWithPath: path))
        let model: MDEQ
        do { model = try MDEQ(checkpoint: file) } catch {
            throw CoordinatorError.checkpoint(path: path, reason: "\(error)")
        }
        try checkMasks(file, model.parameters, path: path)
        return (model, provenance(of: file), file)
    }

    /// Save an MDEQ with its architecture JSON, provenance and (optionally) optimizer state, atomically.
    public static func saveMDEQ(_ model: MDEQ, provenance p: Provenance, optimizer: OptimizerState?, to path: String) throws {
        try write(model.parameters, architecture: model.checkpointMetadata, provenance: p, optimizer: optimizer, to: path)
    }

    /// Save parameters, configuration, provenance and (optionally) optimizer state, atomically.
    public static func save(
        _ model: DEQSmall, provenance p: Provenance, optimizer: OptimizerState?, masks: MaskSet? = nil,
        to path: String
    ) throws {
        try write(
            model.parameters, architecture: [architectureKey: model.configuration.jsonString()], provenance: p,
            optimizer: optimizer, extra: masks?.tensors(shapes: model.parameters) ?? [], to: path)
    }

    /// The one writer of DEQ checkpoints: the architecture metadata, the provenance (which wins over nothing: its
    /// keys are disjoint from the architecture's), the optimizer's buffers and any extra tensors (masks).
    private static func write(
        _ parameters: ParameterStore, architecture: [String: String], provenance p: Provenance,
        optimizer: OptimizerState?, extra more: [(name: String, tensor: Tensor)] = [], to path: String
    ) throws {
        var meta = architecture
        meta.merge([
            "equicert.data": p.dataSet, "equicert.sigma": "\(p.sigma)", "equicert.command": p.command,
            "equicert.version": p.codeVersion, "equicert.epochs-done": "\(p.epochsDone)",
            "equicert.steps-done": "\(p.stepsDone)",
        ]) { a, _ in a }
        for (k, v) in p.extra { meta[k] = v }
        var extra: [(name: String, tensor: Tensor)] = []
        if let o = optimizer {
            meta["equicert.optimizer.kind"] = o.kind
            meta["equicert.optimizer.step"] = "\(o.step)"
            for (name, buf) in o.buffers.sorted(by: { $0.key < $1.key }) {
                extra.append((optimizerPrefix + name, Tensor(shape: [buf.count], scalars: buf)))
            }
        }
        extra += more
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try parameters.save(to: url, metadata: meta, extra: extra)
    }

    /// The optimizer state stored beside the parameters, if any.
    public static func optimizerState(in file: SafeTensorsFile) throws -> OptimizerState? {
        guard let kind = file.metadata["equicert.optimizer.kind"], let step = Int(file.metadata["equicert.optimizer.step"] ?? "") else {
            return nil
        }
        var buffers: [String: [Float]] = [:]
        for n in file.names where n.hasPrefix(optimizerPrefix) {
            buffers[String(n.dropFirst(optimizerPrefix.count))] = try file.float32(n).scalars
        }
        return OptimizerState(kind: kind, step: step, buffers: buffers)
    }
}

/// Pruned checkpoints carry `mask.*` tensors; they must fit the model and every pruned weight must be zero.
func checkMasks(_ file: SafeTensorsFile, _ store: ParameterStore, path: String) throws {
    do { _ = try MaskSet.read(from: file, for: store) } catch let e as PruningError {
        throw CoordinatorError.checkpoint(path: path, reason: e.description)
    }
}
