import NeuralNet
import TensorCore

extension WeightFolding {
    /// The float32 running variance that makes an eval-mode BatchNorm of ε = `epsilon` the identity (with γ = 1,
    /// β = 0, μ = 0): 1 − ε rounded to float32. Then var + ε = 1 + δ with |δ| ≤ 2⁻²⁵, so 1/√(var + ε) is within
    /// 1.5·10⁻⁸ of 1, and x·(1/√(var + ε)) rounds back to x for every float32 x (half a unit in the last place is at
    /// least 2⁻²⁵·|x|): the BatchNorm is exactly the identity in float32, in PyTorch and in `batchNorm` at import.
    public static func identityBatchNormVariance(epsilon: Float) -> Float { Float(1 - Double(epsilon)) }

    /// The inverse of `weightNorm`: v = w and g = ‖w[o, …]‖₂ per output channel ([Co, 1, 1, 1], as PyTorch's
    /// `weight_norm` stores it). g·v/‖v‖ reproduces w to within one rounding of g (≤ 1 unit in the last place).
    /// Throws naming the output channel whose weights are all zero (weight norm cannot represent it: 0/0).
    public static func weightNormSplit(_ w: Tensor, name: String) throws(EquilibriumError) -> (g: Tensor, v: Tensor) {
        let co = w.shape[0], inner = w.count / max(co, 1)
        var g = Tensor(shape: [co] + [Int](repeating: 1, count: max(w.rank - 1, 0)))
        for o in 0..<co {
            var ss = 0.0
            for k in 0..<inner { let x = Double(w.scalars[o * inner + k]); ss += x * x }
            guard ss > 0 else {
                throw .checkpointTensor(
                    name: name, reason: "output channel \(o) is all zero: weight norm cannot represent it (export plain weights)")
            }
            g.scalars[o] = Float(ss.squareRoot())
        }
        return (g, w)
    }
}

extension MDEQ {
    /// What `pyTorchStateDict` chose where the PyTorch model has a choice (its YAML keys WNORM and POST_GN_AFFINE).
    public struct PyTorchExport {
        /// Tensors by their PyTorch MDEQ-Vision names, NCHW weights as PyTorch stores them.
        public var tensors: [String: Tensor]
        /// The branch blocks' and post-fusion convolutions as `weight_g`/`weight_v` (WNORM: true) or `.weight`.
        public var weightNorm: Bool
        /// Whether the post-fusion GroupNorms carry affine tensors (POST_GN_AFFINE): only when they are not (1, 0).
        public var postNormAffine: Bool
    }

    /// Names of the BatchNorms that are `affine=False` in MDEQ-Vision (the head bottlenecks' main path) and of the
    /// convolutions that have a bias there (the head's downsampling and final convolutions).
    static func isNonAffineBatchNorm(_ bn: String) -> Bool {
        bn.hasPrefix("incre_modules.") && (bn.hasSuffix(".bn1") || bn.hasSuffix(".bn2") || bn.hasSuffix(".bn3"))
    }
    static func convHasBias(_ conv: String) -> Bool { conv.hasPrefix("downsamp_modules.") || conv == "final_layer.0" }

    /// This model as a PyTorch MDEQ-Vision classifier `state_dict` (eval mode), the inverse of `init(_:pyTorchStateDict:)`.
    ///
    /// BatchNorms were folded into the convolutions at import, so each comes back as an identity BatchNorm
    /// (running_mean 0, running_var `WeightFolding.identityBatchNormVariance`, γ = 1, β = 0) with the folded
    /// convolution: its bias goes to the convolution's `.bias` where MDEQ-Vision has one, else to β, else (the
    /// non-affine bottleneck BatchNorms) to running_mean = −bias. Each is exact in float32, in PyTorch and at
    /// re-import. Weight norm: `.weight` (WNORM: false, exact) or `weight_g`/`weight_v` (`weightNorm`, g rounded
    /// once). Post-fusion GroupNorms: affine tensors only when they are not γ = 1, β = 0. No `num_batches_tracked`
    /// (PyTorch fills it in when loading a state_dict without it).
    public func pyTorchStateDict(batchNormEpsilon: Float = 1e-5, weightNorm: Bool = false) throws(EquilibriumError) -> PyTorchExport {
        var d: [String: Tensor] = [:]
        for slot in parameters.slots { d[slot.name] = parameters.tensor(slot) }
        let identityVar = WeightFolding.identityBatchNormVariance(epsilon: batchNormEpsilon)
        for (conv, bn) in batchNormFolds() {
            guard let bias = d.removeValue(forKey: "\(conv).bias") else {
                throw .checkpointTensor(name: "\(conv).bias", reason: "missing: the folded convolution has no bias")
            }
            let co = bias.count
            d["\(bn).running_var"] = Tensor(shape: [co], repeating: identityVar)
            var mean = Tensor(shape: [co], repeating: 0)
            if Self.isNonAffineBatchNorm(bn) {
                mean = bias.mapped { -$0 }
            } else {
                d["\(bn).weight"] = Tensor(shape: [co], repeating: 1)
                d["\(bn).bias"] = Self.convHasBias(conv) ? Tensor(shape: [co], repeating: 0) : bias
            }
            if Self.convHasBias(conv) { d["\(conv).bias"] = bias }
            d["\(bn).running_mean"] = mean
        }
        var postAffine = false
        for i in 0..<configuration.branches where configuration.branches > 1 {
            let pre = "fullstage.post_fuse_layers.\(i).gnorm"
            if d["\(pre).weight"]!.scalars.contains(where: { $0 != 1 }) || d["\(pre).bias"]!.scalars.contains(where: { $0 != 0 }) {
                postAffine = true
            }
        }
        if !postAffine {
            for i in 0..<configuration.branches {
                d["fullstage.post_fuse_layers.\(i).gnorm.weight"] = nil
                d["fullstage.post_fuse_layers.\(i).gnorm.bias"] = nil
            }
        }
        if weightNorm {
            var convs: [String] = []
            for i in 0..<configuration.branches {
                convs += ["fullstage.branches.\(i).blocks.0.conv1", "fullstage.branches.\(i).blocks.0.conv2"]
                if configuration.branches > 1 { convs.append("fullstage.post_fuse_layers.\(i).conv") }
            }
            for conv in convs {
                let w = d.removeValue(forKey: "\(conv).weight")!
                let (g, v) = try WeightFolding.weightNormSplit(w, name: "\(conv).weight")
                d["\(conv).weight_g"] = g; d["\(conv).weight_v"] = v
            }
        }
        return PyTorchExport(tensors: d, weightNorm: weightNorm, postNormAffine: postAffine)
    }
}
