import Foundation

/// The architecture of a DEQ-S model (a single-branch MDEQ block); stored in checkpoint metadata so a
/// checkpoint is self-describing. Spec: docs/models.md §1.
public struct DEQConfiguration: Sendable, Equatable, Codable {
    /// How the equilibrium state z* [B, h, w, C] becomes class logits.
    public enum Head: String, Sendable, Equatable, Codable, CaseIterable {
        /// Linear(C → classes) of the mean over positions (the benchmark configuration).
        case meanPool = "mean-pool"
        /// Conv 3×3 stride 2 (C → 2C) + GroupNorm + ReLU, then mean over positions and Linear(2C → classes):
        /// keeps spatial information, which the accuracy targets need (docs/models.md §1).
        case downsample
        /// Conv 3×3 stride 2 (C → 2C) + GroupNorm + ReLU, then the whole 2C×⌈h/2⌉×⌈w/2⌉ map flattened into
        /// Linear(→ classes): all spatial information reaches the classifier.
        case flatten
    }

    /// Column order of the flatten head's linear weight `head.fc.weight` [classes, 2C·h'·w'].
    public enum FlattenOrder: String, Sendable, Equatable, Codable, CaseIterable {
        /// PyTorch's (c, h, w) order (`torch.flatten` of NCHW): checkpoints interchangeable with PyTorch. New models.
        case channelsFirst = "chw"
        /// equicert's original (h, w, c) order: checkpoints written before the flag existed (no `flattenOrder` key).
        case channelsLast = "hwc"
    }

    /// Model family tag ("deq-s"; MDEQ checkpoints say "mdeq").
    public var family: String = "deq-s"
    /// Input image [H, W, c].
    public var inputHeight: Int, inputWidth: Int, inputChannels: Int
    /// Number of classes.
    public var classes: Int
    /// State channels C, expansion E (conv1: C → E·C), GroupNorm groups G.
    public var channels: Int, expansion: Int, groups: Int
    /// Stride of the injection convolution (2: 28×28 → 14×14).
    public var injectionStride: Int
    public var head: Head
    /// Column order of the flatten head's weight: PyTorch's for new configurations; checkpoints whose architecture
    /// JSON lacks the key are the old channels-last order. (Declared beside `head`, in its padding: as the last field
    /// it made the struct 97 bytes, and copies of DEQSmall built by Swift 6.3 test code then crashed.)
    public var flattenOrder: FlattenOrder = .channelsFirst
    /// Per-channel normalisation applied first inside the model: (x − mean)/std, so σ and radii are in [0,1] pixels.
    public var normalizationMean: Float, normalizationStd: Float
    /// GroupNorm ε.
    public var epsilon: Float = 1e-5

    public init(
        inputHeight: Int = 28, inputWidth: Int = 28, inputChannels: Int = 1, classes: Int = 10,
        channels: Int = 32, expansion: Int = 2, groups: Int = 8, injectionStride: Int = 2,
        head: Head = .meanPool, normalizationMean: Float, normalizationStd: Float
    ) {
        self.inputHeight = inputHeight; self.inputWidth = inputWidth; self.inputChannels = inputChannels
        self.classes = classes; self.channels = channels; self.expansion = expansion; self.groups = groups
        self.injectionStride = injectionStride; self.head = head
        self.normalizationMean = normalizationMean; self.normalizationStd = normalizationStd
    }

    private enum CodingKeys: String, CodingKey {
        case family, inputHeight, inputWidth, inputChannels, classes, channels, expansion, groups, injectionStride, head
        case normalizationMean, normalizationStd, epsilon, flattenOrder
    }

    /// Decodes every field as before; a missing `flattenOrder` means an old checkpoint (channels-last columns).
    public init(from decoder: any Decoder) throws {
        let k = try decoder.container(keyedBy: CodingKeys.self)
        family = try k.decode(String.self, forKey: .family)
        inputHeight = try k.decode(Int.self, forKey: .inputHeight)
        inputWidth = try k.decode(Int.self, forKey: .inputWidth)
        inputChannels = try k.decode(Int.self, forKey: .inputChannels)
        classes = try k.decode(Int.self, forKey: .classes)
        channels = try k.decode(Int.self, forKey: .channels)
        expansion = try k.decode(Int.self, forKey: .expansion)
        groups = try k.decode(Int.self, forKey: .groups)
        injectionStride = try k.decode(Int.self, forKey: .injectionStride)
        head = try k.decode(Head.self, forKey: .head)
        normalizationMean = try k.decode(Float.self, forKey: .normalizationMean)
        normalizationStd = try k.decode(Float.self, forKey: .normalizationStd)
        epsilon = try k.decode(Float.self, forKey: .epsilon)
        flattenOrder = try k.decodeIfPresent(FlattenOrder.self, forKey: .flattenOrder) ?? .channelsLast
    }

    /// Spatial size of the state: ⌊(H + 2 − 3)/s⌋ + 1.
    public var stateHeight: Int { (inputHeight - 1) / injectionStride + 1 }
    public var stateWidth: Int { (inputWidth - 1) / injectionStride + 1 }
    /// Elements of one sample's state z: h·w·C.
    public var stateSize: Int { stateHeight * stateWidth * channels }
    /// Multiply-adds ×2 of one f-evaluation per sample (the two 3×3 convolutions).
    public var flopsPerEvaluation: Double {
        2.0 * Double(stateHeight * stateWidth) * 9 * Double(channels * channels * expansion) * 2
    }

    /// Reject configurations the model cannot build.
    public func validate() throws(EquilibriumError) {
        func bad(_ field: String, _ value: Int) -> EquilibriumError {
            .invalidConfiguration(field: field, value: String(value), reason: "not a valid DEQ-S setting")
        }
        if inputHeight < 1 { throw bad("inputHeight", inputHeight) }
        if inputWidth < 1 { throw bad("inputWidth", inputWidth) }
        if inputChannels < 1 { throw bad("inputChannels", inputChannels) }
        if classes < 2 { throw bad("classes", classes) }
        // groups first: the divisibility checks below divide by it.
        if groups < 1 { throw .invalidConfiguration(field: "groups", value: String(groups), reason: "must be ≥ 1") }
        if channels < 1 || channels % groups != 0 {
            throw .invalidConfiguration(field: "channels", value: String(channels), reason: "must be ≥ 1 and a multiple of groups (\(groups))")
        }
        if expansion < 1 || (channels * expansion) % groups != 0 {
            throw .invalidConfiguration(
                field: "expansion", value: String(expansion), reason: "must be ≥ 1, with channels × expansion a multiple of groups (\(groups))")
        }
        if injectionStride < 1 { throw bad("injectionStride", injectionStride) }
        if !normalizationMean.isFinite {
            throw .invalidConfiguration(field: "normalizationMean", value: "\(normalizationMean)", reason: "must be finite")
        }
        if !(normalizationStd > 0 && normalizationStd.isFinite) {
            throw .invalidConfiguration(field: "normalizationStd", value: "\(normalizationStd)", reason: "must be > 0 and finite")
        }
        // GroupNorm's ε: negative or non-finite values make the normalisation divide by zero or take √ of a negative.
        if !(epsilon > 0 && epsilon.isFinite) {
            throw .invalidConfiguration(field: "epsilon", value: "\(epsilon)", reason: "must be > 0 and finite (GroupNorm's ε)")
        }
    }

    /// JSON for the checkpoint's `__metadata__["equicert.architecture"]`.
    public func jsonString() -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return String(decoding: (try? enc.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// Parse from checkpoint metadata.
    public static func fromJSON(_ s: String, path: String) throws(EquilibriumError) -> DEQConfiguration {
        do {
            let c = try JSONDecoder().decode(DEQConfiguration.self, from: Data(s.utf8))
            try c.validate()
            return c
        } catch let e as EquilibriumError {
            throw e
        } catch {
            throw .invalidConfiguration(field: "equicert.architecture", value: path, reason: "architecture JSON unreadable: \(error)")
        }
    }
}
