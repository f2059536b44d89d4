import Foundation
import NeuralNet
import TensorCore

/// Folding of PyTorch's weight reparametrisations into plain convolutions (exact in eval mode).
public enum WeightFolding {
    /// Weight normalisation (`torch.nn.utils.weight_norm`, dim 0): w[o, …] = g[o] · v[o, …] / ‖v[o, …]‖₂, the norm
    /// over every axis but the output channel. g has Co elements ([Co, 1, 1, 1] in PyTorch), v is [Co, …].
    public static func weightNorm(g: Tensor, v: Tensor) -> Tensor {
        let co = v.shape[0], inner = v.count / max(co, 1)
        precondition(g.count == co, "weight_g has \(g.count) elements for \(co) output channels")
        var w = v
        for o in 0..<co {
            var ss = 0.0
            for k in 0..<inner { let x = Double(v.scalars[o * inner + k]); ss += x * x }
            let scale = Double(g.scalars[o]) / ss.squareRoot()
            for k in 0..<inner { w.scalars[o * inner + k] = Float(Double(v.scalars[o * inner + k]) * scale) }
        }
        return w
    }

    /// An eval-mode BatchNorm after a convolution, y = γ(conv(x) + b − μ)/√(σ² + ε) + β, folded into the
    /// convolution: w' = s·w, b' = s·(b − μ) + β with s = γ/√(σ² + ε) per output channel.
    /// w [Co, …]; b (nil: no bias), γ, β (nil: affine=False, i.e. 1 and 0), μ, σ² [Co].
    public static func batchNorm(
        weight w: Tensor, bias b: Tensor?, gamma: Tensor?, beta: Tensor?, mean: Tensor,
        variance: Tensor, epsilon: Float = 1e-5
    ) -> (weight: Tensor, bias: Tensor) {
        let co = w.shape[0], inner = w.count / max(co, 1)
        var wf = w, bf = Tensor(shape: [co])
        for o in 0..<co {
            let s = Double(gamma?.scalars[o] ?? 1) / (Double(variance.scalars[o]) + Double(epsilon)).squareRoot()
            for k in 0..<inner { wf.scalars[o * inner + k] = Float(Double(w.scalars[o * inner + k]) * s) }
            bf.scalars[o] = Float(s * (Double(b?.scalars[o] ?? 0) - Double(mean.scalars[o])) + Double(beta?.scalars[o] ?? 0))
        }
        return (wf, bf)
    }
}

extension MDEQ {
    /// The metadata key of the architecture JSON (as DEQ-S checkpoints).
    public static let architectureKey = "equicert.architecture"

    /// Load an equicert MDEQ checkpoint: the architecture from `__metadata__["equicert.architecture"]` (family "mdeq"),
    /// then every parameter (all present, exact shapes, finite; no unexpected tensors besides optimizer and masks).
    public init(checkpoint file: SafeTensorsFile) throws {
        guard let arch = file.metadata[Self.architectureKey] else {
            throw EquilibriumError.invalidConfiguration(
                field: Self.architectureKey, value: file.path,
                reason: "missing: not an equicert checkpoint")
        }
        try self.init(MDEQConfiguration.fromJSON(arch, path: file.path))
        try parameters.load(from: file, ignoringPrefixes: ["optimizer.", "mask."])
    }

    /// The metadata that makes a checkpoint of this model self-describing (merge with provenance keys).
    public var checkpointMetadata: [String: String] { [Self.architectureKey: configuration.jsonString()] }

    /// The BatchNorms of the public MDEQ-Vision classifier and the convolutions they fold into (conv, bn prefixes).
    func batchNormFolds() -> [(conv: String, norm: String)] {
        var folds = [("downsample.0", "downsample.1"), ("downsample.3", "downsample.4")]
        if stage0 != nil { folds.append(("stage0.0", "stage0.1")) }
        for i in 0..<configuration.branches {
            let pre = "incre_modules.\(i).0"
            folds += [("\(pre).conv1", "\(pre).bn1"), ("\(pre).conv2", "\(pre).bn2"), ("\(pre).conv3", "\(pre).bn3")]
            if increments[i].shortcut != nil { folds.append(("\(pre).downsample.0", "\(pre).downsample.1")) }
        }
        for i in 0..<(configuration.branches - 1) { folds.append(("downsamp_modules.\(i).0", "downsamp_modules.\(i).1")) }
        folds.append(("final_layer.0", "final_layer.1"))
        return folds
    }

    /// Prefixes of the GroupNorms (affine=False in PyTorch means γ = 1, β = 0: both tensors absent).
    func groupNormPrefixes() -> [String] {
        var names: [String] = []
        for i in 0..<configuration.branches {
            for k in 1...3 { names.append("fullstage.branches.\(i).blocks.0.gn\(k)") }
        }
        for slot in parameters.slots where slot.name.hasSuffix(".gnorm.weight") { names.append(String(slot.name.dropLast(7))) }
        return names
    }

    /// Build from a PyTorch MDEQ-Vision classifier `state_dict` (tensors by their PyTorch names, NCHW weights as
    /// PyTorch stores them) in eval mode: weight-normalised convs (`.weight_g`, `.weight_v`) folded by
    /// `WeightFolding.weightNorm`, BatchNorms folded into the convolution before them, non-affine GroupNorms given
    /// γ = 1, β = 0. `num_batches_tracked` counters and the original code's `fullstage_copy.*` are skipped.
    /// Throws `.checkpointTensor` naming the first tensor that is missing, unexpected, misshapen or not finite.
    public init(_ c: MDEQConfiguration, pyTorchStateDict input: [String: Tensor], batchNormEpsilon: Float = 1e-5) throws(EquilibriumError) {
        try self.init(c)
        var d = input.filter { !$0.key.hasSuffix(".num_batches_tracked") && !$0.key.hasPrefix("fullstage_copy.") }
        func take(_ name: String) throws(EquilibriumError) -> Tensor {
            guard let t = d.removeValue(forKey: name) else { throw .checkpointTensor(name: name, reason: "missing") }
            return t
        }
        // Weight norm.
        for gName in d.keys.sorted() where gName.hasSuffix(".weight_g") {
            let base = String(gName.dropLast(2)), vName = base + "_v"
            let g = try take(gName), v = try take(vName)
            guard v.rank >= 1, g.count == v.shape[0] else {
                throw .checkpointTensor(name: gName, reason: "shape \(g.shape) does not match \(vName) \(v.shape)")
            }
            guard d[base] == nil else { throw .checkpointTensor(name: base, reason: "unexpected beside \(gName) and \(vName)") }
            d[base] = WeightFolding.weightNorm(g: g, v: v)
        }
        // BatchNorms into the preceding convolutions.
        for (conv, bn) in batchNormFolds() {
            let w = try take("\(conv).weight")
            let mean = try take("\(bn).running_mean"), variance = try take("\(bn).running_var")
            let gamma = d.removeValue(forKey: "\(bn).weight"), beta = d.removeValue(forKey: "\(bn).bias")
            let bias = d.removeValue(forKey: "\(conv).bias")
            for (name, t) in [("\(bn).running_mean", mean), ("\(bn).running_var", variance)]
                + [("\(bn).weight", gamma), ("\(bn).bias", beta), ("\(conv).bias", bias)].compactMap({ n, t in t.map { (n, $0) } })
            where t.count != w.shape[0] {
                throw .checkpointTensor(name: name, reason: "has \(t.count) elements for \(w.shape[0]) channels of \(conv).weight")
            }
            let (wf, bf) = WeightFolding.batchNorm(
                weight: w, bias: bias, gamma: gamma, beta: beta, mean: mean,
                variance: variance, epsilon: batchNormEpsilon)
            d["\(conv).weight"] = wf; d["\(conv).bias"] = bf
        }
        // Non-affine GroupNorms.
        for gn in groupNormPrefixes() {
            let hasW = d["\(gn).weight"] != nil, hasB = d["\(gn).bias"] != nil
            if hasW != hasB {
                throw .checkpointTensor(name: hasW ? "\(gn).bias" : "\(gn).weight", reason: "missing (the other affine tensor is present)")
            }
            if !hasW, let slot = parameters.slot(named: "\(gn).weight") {
                d["\(gn).weight"] = Tensor(shape: slot.shape, repeating: 1)
                d["\(gn).bias"] = Tensor(shape: slot.shape, repeating: 0)
            }
        }
        // Place every slot; nothing may remain.
        var placed: [(ParameterSlot, Tensor)] = []
        for slot in parameters.slots {
            let t = try take(slot.name)
            guard t.count == slot.count, t.shape.filter({ $0 != 1 }) == slot.shape.filter({ $0 != 1 }) else {
                throw .checkpointTensor(name: slot.name, reason: "shape \(t.shape), expected \(slot.shape)")
            }
            guard t.isFinite else { throw .checkpointTensor(name: slot.name, reason: "not finite") }
            placed.append((slot, t.reshaped(slot.shape)))
        }
        if let extra = d.keys.sorted().first {
            throw .checkpointTensor(name: extra, reason: "unexpected: no place for it in this MDEQ configuration")
        }
        for (slot, t) in placed { parameters.set(slot, t) }
    }
}
