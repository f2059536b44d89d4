import Foundation

/// The architecture of a multiscale DEQ (MDEQ; Bai, Koltun & Kolter, NeurIPS 2020), stored as JSON in a
/// checkpoint's `__metadata__["equicert.architecture"]` (family "mdeq") so a checkpoint is self-describing.
///
/// Branch i (0 = highest resolution) has `channels[i]` channels at resolution h₀/2ⁱ × w₀/2ⁱ, where h₀ × w₀ is the
/// input after `stemDownsamples` stride-2 stem convolutions. Field names follow the public MDEQ YAML keys:
/// NUM_CHANNELS, HEAD_CHANNELS, FINAL_CHANSIZE, EXPANSION_FACTOR, NUM_GROUPS, DOWNSAMPLE_TIMES.
public struct MDEQConfiguration: Sendable, Equatable, Codable {
    /// Model family tag ("mdeq"; DEQ-S checkpoints say "deq-s").
    public var family: String = "mdeq"
    /// Input image [H, W, c] and number of classes.
    public var inputHeight: Int, inputWidth: Int, inputChannels: Int, classes: Int
    /// State channels per branch (NUM_CHANNELS); its length is the number of branches (1–4).
    public var channels: [Int]
    /// Bottleneck width per branch in the head (HEAD_CHANNELS); a bottleneck outputs 4× this.
    public var headChannels: [Int]
    /// Channels of the head's final 1×1 convolution (FINAL_CHANSIZE), the classifier's input.
    public var finalChannels: Int
    /// Width factor of a branch block's inner convolution (EXPANSION_FACTOR): conv1 is C → E·C.
    public var expansion: Int
    /// GroupNorm groups of the blocks and the fusion (NUM_GROUPS); the post-fusion norms use groups/2.
    public var groups: Int
    /// Stride-2 stem convolutions (DOWNSAMPLE_TIMES, 0–2).
    public var stemDownsamples: Int
    /// Whether the injection has the extra 1×1 conv + ReLU after the stem ("stage0"; public MDEQ-Vision omits it
    /// when DOWNSAMPLE_TIMES = 0 and there are at most 2 branches).
    public var injectionConv: Bool
    /// GroupNorm ε (PyTorch's default).
    public var epsilon: Float = 1e-5
    /// Per-channel normalisation applied first inside the model, (x − mean)/std, so σ is in [0,1] pixel units.
    public var normalizationMean: [Float], normalizationStd: [Float]

    public init(
        inputHeight: Int = 32, inputWidth: Int = 32, inputChannels: Int = 3, classes: Int = 10,
        channels: [Int], headChannels: [Int], finalChannels: Int, expansion: Int = 5, groups: Int = 8,
        stemDownsamples: Int = 0, injectionConv: Bool? = nil,
        normalizationMean: [Float]? = nil, normalizationStd: [Float]? = nil
    ) {
        self.inputHeight = inputHeight; self.inputWidth = inputWidth; self.inputChannels = inputChannels
        self.classes = classes; self.channels = channels; self.headChannels = headChannels
        self.finalChannels = finalChannels; self.expansion = expansion; self.groups = groups
        self.stemDownsamples = stemDownsamples
        self.injectionConv = injectionConv ?? !(stemDownsamples == 0 && channels.count <= 2)
        self.normalizationMean = normalizationMean ?? (inputChannels == 3 ? Self.cifarMean : [Float](repeating: 0.5, count: inputChannels))
        self.normalizationStd = normalizationStd ?? (inputChannels == 3 ? Self.cifarStd : [Float](repeating: 0.5, count: inputChannels))
    }

    /// The CIFAR-10 normalisation of the public MDEQ training code.
    public static let cifarMean: [Float] = [0.4914, 0.4822, 0.4465]
    public static let cifarStd: [Float] = [0.2023, 0.1994, 0.2010]

    /// MDEQ-TINY of the public CIFAR-10 configuration (locuslab/deq MDEQ-Vision `cls_mdeq_TINY.yaml`):
    /// 2 branches of 24 channels, head 8/16, final 200, expansion 5, 8 groups, no stem downsampling.
    public static var tiny: MDEQConfiguration {
        MDEQConfiguration(channels: [24, 24], headChannels: [8, 16], finalChannels: 200)
    }
    /// MDEQ-TINY of the original code (locuslab/mdeq `cls_mdeq_TINY.yaml`): 3 branches 8/16/32, head 4/8/16,
    /// final 128.
    public static var tinyOriginal: MDEQConfiguration {
        MDEQConfiguration(channels: [8, 16, 32], headChannels: [4, 8, 16], finalChannels: 128)
    }
    /// MDEQ-SMALL: the public SMALL sizes (ImageNet `cls_mdeq_SMALL.yaml`: 4 branches 32/64/128/256, head
    /// 24/48/96/192, final 2048; there is no public CIFAR SMALL YAML) on 32×32×3 inputs without stem downsampling.
    public static var small: MDEQConfiguration {
        MDEQConfiguration(channels: [32, 64, 128, 256], headChannels: [24, 48, 96, 192], finalChannels: 2048)
    }
    /// MDEQ-LARGE of the public CIFAR-10 configuration (`cls_mdeq_LARGE.yaml`): 4 branches 32/64/128/256,
    /// head 14/28/56/112, final 1680.
    public static var large: MDEQConfiguration {
        MDEQConfiguration(channels: [32, 64, 128, 256], headChannels: [14, 28, 56, 112], finalChannels: 1680)
    }

    /// A preset by name: tiny, tiny-original, small, large.
    public static func preset(_ name: String) throws(EquilibriumError) -> MDEQConfiguration {
        switch name {
        case "tiny": return .tiny
        case "tiny-original": return .tinyOriginal
        case "small": return .small
        case "large": return .large
        default: throw .unknownName(field: "MDEQ preset", value: name, allowed: ["tiny", "tiny-original", "small", "large"])
        }
    }

    /// The same configuration with its first `n` branches (1–4); the injection conv follows the public rule.
    public func withBranches(_ n: Int) throws(EquilibriumError) -> MDEQConfiguration {
        guard (1...min(4, channels.count)).contains(n) else {
            throw .invalidConfiguration(field: "branches", value: String(n), reason: "this configuration has 1–\(channels.count) branches")
        }
        var c = self
        c.channels = Array(channels.prefix(n)); c.headChannels = Array(headChannels.prefix(n))
        c.injectionConv = !(stemDownsamples == 0 && n <= 2)
        return c
    }

    /// Number of resolution branches.
    public var branches: Int { channels.count }
    /// Spatial size of branch 0: the input after the stem, ⌊(H − 1)/2⌋ + 1 per stride-2 convolution.
    public var baseHeight: Int { (0..<stemDownsamples).reduce(inputHeight) { h, _ in (h - 1) / 2 + 1 } }
    public var baseWidth: Int { (0..<stemDownsamples).reduce(inputWidth) { w, _ in (w - 1) / 2 + 1 } }
    /// [h, w, C] of branch i: (h₀/2ⁱ, w₀/2ⁱ, channels[i]).
    public func branchShape(_ i: Int) -> [Int] { [baseHeight >> i, baseWidth >> i, channels[i]] }
    /// Elements of one sample's packed state: Σᵢ hᵢ·wᵢ·Cᵢ.
    public var stateSize: Int { (0..<branches).reduce(0) { $0 + branchShape($1).reduce(1, *) } }
    /// Offset of branch i inside one sample's packed state.
    public func stateOffset(_ i: Int) -> Int { (0..<i).reduce(0) { $0 + branchShape($1).reduce(1, *) } }

    /// Multiply-adds ×2 of one f-evaluation per sample (the convolutions; normalisations not counted).
    public var flopsPerEvaluation: Double {
        var macs = 0.0
        for i in 0..<branches {
            let s = branchShape(i), pos = Double(s[0] * s[1]), c = Double(s[2])
            macs += 2 * pos * 9 * c * c * Double(expansion)  // conv1 + conv2
            if branches > 1 { macs += pos * c * c }  // post-fusion 1×1
            for j in 0..<branches where j != i {
                if j > i {
                    macs += Double(branchShape(j)[0] * branchShape(j)[1]) * Double(channels[j]) * c
                } else {
                    for k in 0..<(i - j) {
                        let out = branchShape(j + k + 1), cin = Double(channels[j])
                        let cout = k == i - j - 1 ? c : cin
                        macs += Double(out[0] * out[1]) * 9 * cin * cout
                    }
                }
            }
        }
        return 2 * macs
    }

    /// Reject configurations the model cannot build.
    public func validate() throws(EquilibriumError) {
        func bad(_ field: String, _ value: String, _ reason: String) -> EquilibriumError {
            .invalidConfiguration(field: field, value: value, reason: reason)
        }
        guard family == "mdeq" else { throw bad("family", family, "not an MDEQ configuration") }
        if inputHeight < 1 || inputWidth < 1 { throw bad("input", "\(inputHeight)×\(inputWidth)", "must be positive") }
        if inputChannels < 1 { throw bad("inputChannels", String(inputChannels), "must be ≥ 1") }
        if classes < 2 { throw bad("classes", String(classes), "must be ≥ 2") }
        guard (1...4).contains(branches) else { throw bad("channels", "\(channels)", "1 to 4 branches are supported") }
        guard headChannels.count == branches else { throw bad("headChannels", "\(headChannels)", "one per branch (\(branches))") }
        guard (0...2).contains(stemDownsamples) else { throw bad("stemDownsamples", String(stemDownsamples), "0, 1 or 2") }
        if groups < 1 || (branches > 1 && groups % 2 != 0) {
            throw bad("groups", String(groups), "must be ≥ 1, and even with several branches (post-fusion norms use groups/2)")
        }
        if expansion < 1 { throw bad("expansion", String(expansion), "must be ≥ 1") }
        for (i, c) in channels.enumerated() where c < 1 || c % groups != 0 {
            throw bad("channels[\(i)]", String(c), "must be a positive multiple of groups (\(groups))")
        }
        if headChannels.contains(where: { $0 < 1 }) { throw bad("headChannels", "\(headChannels)", "must be positive") }
        if finalChannels < 1 { throw bad("finalChannels", String(finalChannels), "must be positive") }
        let step = 1 << (branches - 1)
        if baseHeight % step != 0 || baseWidth % step != 0 {
            throw bad("input", "\(inputHeight)×\(inputWidth)", "branch 0 (\(baseHeight)×\(baseWidth)) must be divisible by 2^(branches−1) = \(step)")
        }
        guard normalizationMean.count == inputChannels, normalizationStd.count == inputChannels else {
            throw bad(
                "normalization", "\(normalizationMean.count)/\(normalizationStd.count)", "one mean and std per input channel (\(inputChannels))")
        }
        if normalizationStd.contains(where: { !($0 > 0) }) { throw bad("normalizationStd", "\(normalizationStd)", "must be > 0") }
    }

    /// JSON for the checkpoint's `__metadata__["equicert.architecture"]`.
    public func jsonString() -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return String(decoding: (try? enc.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// Parse and validate from checkpoint metadata.
    public static func fromJSON(_ s: String, path: String) throws(EquilibriumError) -> MDEQConfiguration {
        do {
            let c = try JSONDecoder().decode(MDEQConfiguration.self, from: Data(s.utf8))
            try c.validate()
            return c
        } catch let e as EquilibriumError {
            throw e
        } catch {
            throw .invalidConfiguration(field: "equicert.architecture", value: path, reason: "MDEQ architecture JSON unreadable: \(error)")
        }
    }
}

/// The model family named by a checkpoint's architecture JSON ("deq-s" when the field is absent: DEQ-S
/// checkpoints written before the field existed), so a loader can pick `DEQSmall` or `MDEQ`.
public func equilibriumFamily(ofArchitectureJSON s: String) -> String {
    struct Tag: Decodable { var family: String? }
    return (try? JSONDecoder().decode(Tag.self, from: Data(s.utf8)))?.family ?? "deq-s"
}
