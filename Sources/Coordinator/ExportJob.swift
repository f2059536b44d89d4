import Equilibrium
import Foundation
import NeuralNet
import Reports
import TensorCore

/// `equicert export`: an equicert DEQ checkpoint → a PyTorch `state_dict` (safetensors, as
/// `safetensors.torch.load_file` reads it) and its configuration, the inverse of `equicert import`.
///
/// - MDEQ: the tensor names, shapes and layouts of the public MDEQ-Vision classifier (and the project's PyTorch twin,
///   Scripts/gen-mdeq-fixtures.py), with the import's foldings undone as `MDEQ.pyTorchStateDict` describes; the
///   configuration as the public YAML keys plus an `EQUICERT:` section (input channels, injection conv,
///   normalisation, ε's) that `equicert import --config` reads back.
/// - DEQ-S: the project's parameter names (PyTorch layout already; the flatten head's columns rewritten to PyTorch's
///   (c, h, w) order for checkpoints that stored (h, w, c)); the configuration as the architecture JSON, which
///   `equicert import --config` reads back. Optimizer state and pruning masks are not exported (pruned weights are
///   zero already).
///
/// Outputs follow `OutputGuard`: never an input, never replaced without `force`; both are checked before anything is
/// read, and each is written atomically.
public struct ExportJob {
    public struct Settings: Sendable {
        /// The equicert checkpoint (.safetensors).
        public var model: String
        /// The state_dict to write (.safetensors).
        public var output: String
        /// The configuration to write; nil: beside the output (`x.safetensors` → `x.yaml` for an MDEQ, `x.json` for
        /// a DEQ-S).
        public var configOutput: String?
        public var force = false
        /// BatchNorm ε of the PyTorch model the state_dict is for (the identity BatchNorms depend on it).
        public var batchNormEpsilon: Float = 1e-5
        /// MDEQ: weight-normalised convolutions as `weight_g`/`weight_v` (WNORM: true) instead of `.weight`.
        public var weightNorm = false

        public init(model: String, output: String) { self.model = model; self.output = output }
    }

    public let settings: Settings
    public init(_ settings: Settings) { self.settings = settings }

    /// The configuration path for a model of `kind`.
    public func configPath(for kind: CheckpointKind) -> String {
        if let c = settings.configOutput { return c }
        let o = settings.output
        let stem = o.hasSuffix(".safetensors") ? String(o.dropLast(".safetensors".count)) : o
        return stem + (kind == .mdeq ? ".yaml" : ".json")
    }

    /// Export and write; returns the lines to print.
    public func run() throws -> [String] {
        let s = settings
        guard FileManager.default.fileExists(atPath: s.model) else {
            throw CoordinatorError.checkpoint(path: s.model, reason: "no such file")
        }
        let kind = CheckpointKind.detect(s.model)
        let architecture = (try? SafeTensorsFile(contentsOf: URL(fileURLWithPath: s.model)))?.metadata[DEQCheckpoint.architectureKey]
        let other: String? =
            switch kind {
            case .mdeq: nil
            case .deq: architecture.flatMap { ["latent-autoencoder", "latent-denoiser"].contains($0) ? $0 : nil }
            case .textClassifier, .vit: kind.rawValue
            }
        if let other {
            throw CoordinatorError.checkpoint(path: s.model, reason: "is a \(other) checkpoint; export writes DEQ-S and MDEQ checkpoints only")
        }
        if kind == .deq && s.weightNorm {
            throw CoordinatorError.invalidOption(name: "weight-norm", value: "", reason: "applies to MDEQ checkpoints only; \(s.model) is a DEQ-S")
        }
        guard s.batchNormEpsilon > 0, s.batchNormEpsilon < 1 else {
            throw CoordinatorError.invalidOption(name: "batch-norm-epsilon", value: "\(s.batchNormEpsilon)", reason: "must be in (0, 1)")
        }
        let config = configPath(for: kind)
        if let a = OutputGuard.realPath(config), a == OutputGuard.realPath(s.output) {
            throw CoordinatorError.invalidOption(name: "config-out", value: config, reason: "is the state_dict output too")
        }
        try OutputGuard.check(outputs: [s.output, config], inputs: [s.model], existing: s.force ? .replace : .refuse, resumeFlag: nil)
        for path in [s.output, config] { try ReportWriter.checkWritable(path: path) }

        let tensors: [String: Tensor], configText: String, lines: [String]
        if kind == .mdeq {
            let (model, prov, _) = try DEQCheckpoint.loadMDEQ(s.model)
            let export: MDEQ.PyTorchExport
            do { export = try model.pyTorchStateDict(batchNormEpsilon: s.batchNormEpsilon, weightNorm: s.weightNorm) } catch {
                throw CoordinatorError.checkpoint(path: s.model, reason: "\(error)")
            }
            tensors = export.tensors
            configText = Self.mdeqYAML(
                model.configuration, export: export, batchNormEpsilon: s.batchNormEpsilon,
                source: URL(fileURLWithPath: s.model).lastPathComponent, data: prov.dataSet, sigma: prov.sigma)
            let c = model.configuration
            let v = WeightFolding.identityBatchNormVariance(epsilon: s.batchNormEpsilon)
            lines = [
                "exported MDEQ (\(c.branches) branch(es), channels \(c.channels)) of \(s.model) → \(s.output): \(tensors.count) tensors; configuration → \(config)",
                "BatchNorms are identities with the folded convolutions (running_mean 0, running_var \(v) = 1 − ε in float32 for ε = \(s.batchNormEpsilon)); "
                    + (s.weightNorm ? "weight norm as weight_g/weight_v (WNORM: true)" : "plain convolution weights (WNORM: false)")
                    + "; post-fusion GroupNorm affine: \(export.postNormAffine)",
            ]
        } else {
            let (loaded, prov, _) = try DEQCheckpoint.load(s.model)
            let old = loaded.configuration.flattenOrder
            let model = try loaded.withFlattenOrder(.channelsFirst)
            var d: [String: Tensor] = [:]
            for slot in model.parameters.slots { d[slot.name] = model.parameters.tensor(slot) }
            tensors = d
            configText = try Self.deqSmallJSON(model.configuration, data: prov.dataSet, sigma: prov.sigma)
            let c = model.configuration
            let note =
                c.head == .flatten && old == .channelsLast
                ? "; head.fc.weight columns rewritten from the checkpoint's (h, w, c) order to PyTorch's (c, h, w)" : ""
            lines = [
                "exported DEQ-S (\(c.channels) channels, head \(c.head.rawValue)) of \(s.model) → \(s.output): \(tensors.count) tensors; configuration → \(config)\(note)"
            ]
        }
        try AtomicFile.write(Data(configText.utf8), to: config)
        do {
            try SafeTensorsWriter.write(
                tensors: tensors.keys.sorted().map { ($0, tensors[$0]!) }, metadata: ["format": "pt"],
                to: URL(fileURLWithPath: s.output))
        } catch {
            try? FileManager.default.removeItem(atPath: config)
            throw error
        }
        return lines
    }

    /// An MDEQ configuration as the public MDEQ-Vision YAML keys (`MODEL:` / `EXTRA:` / `FULL_STAGE:`), plus an
    /// `EQUICERT:` section with what the public YAML leaves to the data pipeline or hard-codes. Floats are written
    /// in their shortest round-tripping form, so `equicert import --config` reads back the same values.
    public static func mdeqYAML(
        _ c: MDEQConfiguration, export: MDEQ.PyTorchExport, batchNormEpsilon: Float, source: String, data: String, sigma: Float
    ) -> String {
        func list(_ xs: [some CustomStringConvertible]) -> String { "[" + xs.map(\.description).joined(separator: ", ") + "]" }
        return """
            # MDEQ-Vision configuration of an equicert export (\(source)); `equicert import --config` reads it back.
            MODEL:
              NAME: mdeq
              NUM_CLASSES: \(c.classes)
              NUM_GROUPS: \(c.groups)
              WNORM: \(export.weightNorm)
              DOWNSAMPLE_TIMES: \(c.stemDownsamples)
              EXPANSION_FACTOR: \(c.expansion)
              POST_GN_AFFINE: \(export.postNormAffine)
              IMAGE_SIZE: [\(c.inputHeight), \(c.inputWidth)]
              EXTRA:
                FULL_STAGE:
                  NUM_MODULES: 1
                  NUM_BRANCHES: \(c.branches)
                  BLOCK: BASIC
                  BIG_KERNELS: \(list([Int](repeating: 0, count: c.branches)))
                  HEAD_CHANNELS: \(list(c.headChannels))
                  FINAL_CHANSIZE: \(c.finalChannels)
                  NUM_BLOCKS: \(list([Int](repeating: 1, count: c.branches)))
                  NUM_CHANNELS: \(list(c.channels))
                  FUSE_METHOD: SUM
            # Not public MDEQ-Vision keys: the normalisation equicert applies inside the model ((x - mean)/std on [0, 1]
            # pixels; MDEQ-Vision applies it in its data transform), whether the injection has the stage0 conv, the ε's, and
            # the data set and training σ of the checkpoint.
            EQUICERT:
              INPUT_CHANNELS: \(c.inputChannels)
              INJECTION_CONV: \(c.injectionConv)
              NORMALIZATION_MEAN: \(list(c.normalizationMean))
              NORMALIZATION_STD: \(list(c.normalizationStd))
              GROUP_NORM_EPSILON: \(c.epsilon)
              BATCH_NORM_EPSILON: \(batchNormEpsilon)
            """ + (data == "?" ? "" : "\n  DATA: \(data)") + (sigma.isNaN ? "" : "\n  SIGMA: \(sigma)") + "\n"
    }

    /// A DEQ-S configuration: the architecture JSON plus the checkpoint's `data` and `sigma` (when known), which
    /// `equicert import` records as the imported checkpoint's provenance.
    public static func deqSmallJSON(_ c: DEQConfiguration, data: String, sigma: Float) throws -> String {
        var obj = try JSONSerialization.jsonObject(with: Data(c.jsonString().utf8)) as? [String: Any] ?? [:]
        if data != "?" { obj["data"] = data }
        if !sigma.isNaN { obj["sigma"] = Double("\(sigma)") }
        return String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]), as: UTF8.self) + "\n"
    }
}
