import Equilibrium
import Foundation
import NeuralNet
import Reports
import TensorCore

/// `equicert import`: a PyTorch MDEQ-Vision `state_dict` (safetensors, as `safetensors.torch.save_file(model.state_dict(), …)`
/// writes it) and its configuration → an equicert MDEQ checkpoint (`DEQCheckpoint.saveMDEQ`).
///
/// The configuration is a preset (`MDEQConfiguration.preset`) and/or a configuration file whose fields override it
/// (`MDEQConfigFile`). Before any folding the configuration is held against the tensors' shapes, field by field
/// (`checkAgainstTensors`), so a mismatch names the field; then `MDEQ(_:pyTorchStateDict:)` names any tensor it
/// cannot place. Nothing is written unless everything fits; the checkpoint is written atomically.
public struct ImportJob {
    public struct Settings: Sendable {
        /// The state_dict (.safetensors).
        public var stateDict: String
        /// A preset name (tiny, tiny-original, small, large) and/or a configuration file (JSON or YAML subset).
        public var preset: String?
        public var configFile: String?
        /// The output checkpoint (.safetensors).
        public var output: String
        /// Data set and noise σ recorded as the checkpoint's provenance (defaults of `certify`/`evaluate`).
        /// nil / NaN: the configuration file's DATA / SIGMA (`equicert export` writes them), else cifar10 / unknown.
        public var data: String?
        public var sigma: Float = .nan
        /// BatchNorm ε of the PyTorch model (folded into the convolutions); nil: the configuration file's
        /// BATCH_NORM_EPSILON, else PyTorch's default 1e-5.
        public var batchNormEpsilon: Float?
        public var command = ""
        /// Replace an existing output checkpoint (otherwise refused: nothing a user owns is overwritten).
        public var force = false

        public init(stateDict: String, output: String) { self.stateDict = stateDict; self.output = output }
    }

    public let settings: Settings
    public init(_ settings: Settings) { self.settings = settings }

    /// Import and write; returns the lines to print.
    public func run() throws -> [String] {
        let s = settings
        guard s.preset != nil || s.configFile != nil else {
            throw CoordinatorError.invalidOption(name: "preset", value: "(none)", reason: "give --preset, --config or both")
        }
        if let d = s.data { _ = try ImageDataSource(parsing: d) }
        try ReportWriter.checkWritable(path: s.output)
        try OutputGuard.check(
            outputs: [s.output], inputs: [s.stateDict] + (s.configFile.map { [$0] } ?? []),
            existing: s.force ? .replace : .refuse, resumeFlag: nil)
        guard FileManager.default.fileExists(atPath: s.stateDict) else {
            throw CoordinatorError.checkpoint(path: s.stateDict, reason: "no such file")
        }
        let file = try SafeTensorsFile(contentsOf: URL(fileURLWithPath: s.stateDict))
        if let path = s.configFile, let (deqs, data, sigma) = try Self.deqSmallConfiguration(path) {
            guard s.preset == nil else {
                throw CoordinatorError.invalidOption(name: "preset", value: s.preset!, reason: "\(path) describes a DEQ-S, not an MDEQ")
            }
            return try importDEQSmall(deqs, file, provenance: try provenance(data: data, sigma: sigma))
        }
        var tensors: [String: Tensor] = [:]
        for name in file.names { tensors[name] = try file.float32(name) }
        var config =
            try s.preset.map { name in
                do { return try MDEQConfiguration.preset(name) } catch {
                    throw CoordinatorError.invalidOption(name: "preset", value: name, reason: "\(error)")
                }
            } ?? MDEQConfiguration.tiny
        let configFile = try s.configFile.map(MDEQConfigFile.read)
        if let path = s.configFile, let f = configFile { config = try f.applied(to: config, path: path) }
        do { try config.validate() } catch { throw CoordinatorError.checkpoint(path: s.configFile ?? s.preset ?? "", reason: "\(error)") }
        try Self.checkAgainstTensors(config, tensors, path: s.stateDict)
        let model: MDEQ
        let bnEpsilon = s.batchNormEpsilon ?? configFile?.batchNormEpsilon ?? 1e-5
        let prov = try provenance(data: configFile?.data, sigma: configFile?.sigma)
        do { model = try MDEQ(config, pyTorchStateDict: tensors, batchNormEpsilon: bnEpsilon) } catch {
            throw CoordinatorError.checkpoint(path: s.stateDict, reason: "\(error)")
        }
        try DEQCheckpoint.saveMDEQ(model, provenance: prov, optimizer: nil, to: s.output)
        let c = config
        return [
            "imported \(file.names.count) tensors of \(s.stateDict) → \(s.output): MDEQ, \(c.branches) branch(es), channels \(c.channels), head \(c.headChannels), final \(c.finalChannels), \(c.inputHeight)×\(c.inputWidth)×\(c.inputChannels) inputs, \(c.classes) classes, \(model.parameters.count) parameters"
        ]
    }

    /// The checkpoint's provenance: the options, else what the configuration file records (`data`, `sigma`), else
    /// cifar10 and an unknown σ. Throws for a data set name equicert does not know.
    func provenance(data: String?, sigma: Float?) throws -> DEQCheckpoint.Provenance {
        let s = settings
        let d = s.data ?? data ?? "cifar10"
        _ = try ImageDataSource(parsing: d)
        return DEQCheckpoint.Provenance(
            dataSet: d, sigma: s.sigma.isNaN ? (sigma ?? .nan) : s.sigma, command: s.command, codeVersion: EquicertVersion.string,
            epochsDone: 0, stepsDone: 0,
            extra: ["equicert.import.source": URL(fileURLWithPath: s.stateDict).lastPathComponent])
    }

    /// The DEQ-S architecture in a JSON configuration file (`"family": "deq-s"`, as `equicert export` writes it), or
    /// nil when the file describes something else (an MDEQ). A missing `flattenOrder` means PyTorch's (c, h, w): the
    /// tensors come from PyTorch. Also the `data` and `sigma` keys `equicert export` adds.
    static func deqSmallConfiguration(_ path: String) throws -> (DEQConfiguration, data: String?, sigma: Float?)? {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CoordinatorError.checkpoint(path: path, reason: "cannot read the configuration file")
        }
        guard var obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], obj["family"] as? String == "deq-s" else {
            return nil
        }
        if obj["flattenOrder"] == nil { obj["flattenOrder"] = DEQConfiguration.FlattenOrder.channelsFirst.rawValue }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: obj), as: UTF8.self)
        let sigma = (obj["sigma"] as? NSNumber).map { $0.floatValue }
        do { return (try DEQConfiguration.fromJSON(json, path: path), obj["data"] as? String, sigma) } catch {
            throw CoordinatorError.checkpoint(path: path, reason: "\(error)")
        }
    }

    /// A DEQ-S state_dict (the project's parameter names, PyTorch layout) → a DEQ-S checkpoint: every tensor placed
    /// with its exact shape, none left over (the loader names the first that is not).
    func importDEQSmall(_ c: DEQConfiguration, _ file: SafeTensorsFile, provenance prov: DEQCheckpoint.Provenance) throws -> [String] {
        let s = settings
        let model = try DEQSmall(c)
        do { try model.parameters.load(from: file) } catch { throw CoordinatorError.checkpoint(path: s.stateDict, reason: "\(error)") }
        try DEQCheckpoint.save(model, provenance: prov, optimizer: nil, to: s.output)
        return [
            "imported \(file.names.count) tensors of \(s.stateDict) → \(s.output): DEQ-S, \(c.channels) channels, head \(c.head.rawValue), \(c.inputHeight)×\(c.inputWidth)×\(c.inputChannels) inputs, \(c.classes) classes, \(model.parameters.count) parameters"
        ]
    }

    /// The stored shape of a convolution's weight, plain or weight-normalised (`.weight` or `.weight_v`).
    static func weightShape(_ tensors: [String: Tensor], _ prefix: String) -> [Int]? {
        (tensors["\(prefix).weight"] ?? tensors["\(prefix).weight_v"])?.shape
    }

    /// Hold the configuration's fields against the tensors that determine them; throws naming the first field whose
    /// value disagrees (`configurationField`). Tensors absent here are left to the importer, which names them.
    public static func checkAgainstTensors(_ c: MDEQConfiguration, _ t: [String: Tensor], path: String) throws {
        func mismatch(_ field: String, _ value: String, _ found: String) -> CoordinatorError {
            .configurationField(field, value: value, reason: "\(path) holds \(found)")
        }
        let branchIndices = Set(
            t.keys.compactMap { name -> Int? in
                guard name.hasPrefix("fullstage.branches.") else { return nil }
                return Int(name.dropFirst("fullstage.branches.".count).prefix { $0 != "." })
            })
        if let top = branchIndices.max() {
            guard (1...4).contains(top + 1) else {
                throw CoordinatorError.configurationField(
                    "branches", value: "\(top + 1)", reason: "\(path) has \(top + 1) branches; 1 to 4 are supported")
            }
            guard top + 1 == c.branches else { throw mismatch("branches", "\(c.branches)", "\(top + 1) branches (fullstage.branches.*)") }
        }
        if let s = weightShape(t, "downsample.0"), s.count == 4, s[1] != c.inputChannels {
            throw mismatch("inputChannels", "\(c.inputChannels)", "downsample.0 with \(s[1]) input channels")
        }
        for i in 0..<c.branches {
            if let s = weightShape(t, "fullstage.branches.\(i).blocks.0.conv1"), s.count == 4 {
                guard s[1] == c.channels[i] else {
                    throw mismatch("channels", "\(c.channels)", "fullstage.branches.\(i).blocks.0.conv1 with \(s[1]) input channels for branch \(i)")
                }
                guard s[0] == c.expansion * c.channels[i] else {
                    throw mismatch(
                        "expansion", "\(c.expansion)",
                        "fullstage.branches.\(i).blocks.0.conv1 with \(s[0]) = \(Double(s[0]) / Double(s[1]))·\(s[1]) outputs")
                }
            }
            if let s = weightShape(t, "incre_modules.\(i).0.conv1"), s.count >= 1, s[0] != c.headChannels[i] {
                throw mismatch("headChannels", "\(c.headChannels)", "incre_modules.\(i).0.conv1 with \(s[0]) outputs for branch \(i)")
            }
        }
        if let s = weightShape(t, "final_layer.0"), s.count >= 1, s[0] != c.finalChannels {
            throw mismatch("finalChannels", "\(c.finalChannels)", "final_layer.0 with \(s[0]) outputs")
        }
        if let s = weightShape(t, "classifier"), s.count == 2 {
            if s[0] != c.classes { throw mismatch("classes", "\(c.classes)", "classifier with \(s[0]) outputs") }
            if s[1] != c.finalChannels { throw mismatch("finalChannels", "\(c.finalChannels)", "classifier with \(s[1]) inputs") }
        }
        let hasStage0 = t.keys.contains { $0.hasPrefix("stage0.") }
        if hasStage0 != c.injectionConv {
            throw mismatch("injectionConv", "\(c.injectionConv)", hasStage0 ? "stage0.* tensors" : "no stage0.* tensors")
        }
    }
}

/// The public MDEQ configuration fields a user may give to `equicert import`, from a JSON object or a YAML subset
/// (`KEY: value` lines, `[a, b]` lists, `#` comments; section headers and their indentation are ignored, so a public
/// `cls_mdeq_*.yaml` reads as is). Keys are the YAML names (`NUM_CHANNELS`, …) or the `MDEQConfiguration` names
/// (`channels`, …), case-insensitive; unknown keys of the public YAML (training settings) are ignored.
public struct MDEQConfigFile: Sendable, Equatable {
    public var branches: Int?
    public var channels: [Int]?
    public var headChannels: [Int]?
    public var finalChannels: Int?
    public var expansion: Int?
    public var groups: Int?
    public var stemDownsamples: Int?
    public var classes: Int?
    /// IMAGE_SIZE ([H, W] or one side) and input channels.
    public var imageSize: [Int]?
    public var inputChannels: Int?
    public var injectionConv: Bool?
    /// equicert's own keys (not in the public YAML; `equicert export` writes them): the normalisation inside the
    /// model, the GroupNorm ε, and the BatchNorm ε the state_dict's BatchNorms assume.
    public var normalizationMean: [Float]?
    public var normalizationStd: [Float]?
    public var groupNormEpsilon: Float?
    public var batchNormEpsilon: Float?
    /// The data set and training σ of the model (the checkpoint's provenance; `equicert export` writes them).
    public var data: String?
    public var sigma: Float?

    /// Field of each accepted key (lowercased, without `_`).
    static let fieldOfKey: [String: String] = [
        "numbranches": "branches", "branches": "branches",
        "numchannels": "channels", "channels": "channels",
        "headchannels": "headChannels",
        "finalchansize": "finalChannels", "finalchannels": "finalChannels",
        "expansionfactor": "expansion", "expansion": "expansion",
        "numgroups": "groups", "groups": "groups",
        "downsampletimes": "stemDownsamples", "stemdownsamples": "stemDownsamples",
        "numclasses": "classes", "classes": "classes",
        "imagesize": "imageSize", "inputchannels": "inputChannels", "injectionconv": "injectionConv",
        "normalizationmean": "normalizationMean", "normalizationstd": "normalizationStd",
        "groupnormepsilon": "groupNormEpsilon", "batchnormepsilon": "batchNormEpsilon", "data": "data", "sigma": "sigma",
    ]

    public init() {}

    /// Read `path` (JSON when its first non-blank character is `{`, else the YAML subset).
    public static func read(_ path: String) throws -> MDEQConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CoordinatorError.checkpoint(path: path, reason: "cannot read the configuration file")
        }
        return try parse(String(decoding: data, as: UTF8.self), path: path)
    }

    /// Parse configuration text; an unparsable value names its key.
    public static func parse(_ text: String, path: String) throws -> MDEQConfigFile {
        var pairs: [(String, String)] = []
        if text.drop(while: { $0.isWhitespace }).first == "{" {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                throw CoordinatorError.checkpoint(path: path, reason: "not a JSON object")
            }
            func flatten(_ o: [String: Any]) {
                for (k, v) in o {
                    if let sub = v as? [String: Any] {
                        flatten(sub)
                    } else if let list = v as? [Any] {
                        pairs.append((k, "[" + list.map { "\($0)" }.joined(separator: ",") + "]"))
                    } else {
                        pairs.append((k, "\(v)"))
                    }
                }
            }
            flatten(obj)
        } else {
            for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
                let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
                guard let colon = line.firstIndex(of: ":") else { continue }
                let key = line[..<colon].trimmingCharacters(in: .whitespaces)
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if key.isEmpty || value.isEmpty { continue }  // a section header
                pairs.append((key, value))
            }
        }
        var f = MDEQConfigFile()
        for (key, value) in pairs {
            let norm = key.lowercased().replacingOccurrences(of: "_", with: "")
            guard let field = fieldOfKey[norm] else { continue }
            func bad() -> CoordinatorError { .configurationField(field, value: value, reason: "unreadable in \(path) (key \(key))") }
            func ints() throws -> [Int] {
                let inner = value.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
                let parts = inner.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                let xs = parts.compactMap { Int($0) }
                guard !parts.isEmpty, xs.count == parts.count else { throw bad() }
                return xs
            }
            func int() throws -> Int { let xs = try ints(); guard xs.count == 1, !value.hasPrefix("[") else { throw bad() }; return xs[0] }
            func floats() throws -> [Float] {
                let inner = value.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
                let parts = inner.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                let xs = parts.compactMap { Float($0) }.filter(\.isFinite)
                guard !parts.isEmpty, xs.count == parts.count else { throw bad() }
                return xs
            }
            func float() throws -> Float { let xs = try floats(); guard xs.count == 1, !value.hasPrefix("[") else { throw bad() }; return xs[0] }
            switch field {
            case "branches": f.branches = try int()
            case "channels": f.channels = try ints()
            case "headChannels": f.headChannels = try ints()
            case "finalChannels": f.finalChannels = try int()
            case "expansion": f.expansion = try int()
            case "groups": f.groups = try int()
            case "stemDownsamples": f.stemDownsamples = try int()
            case "classes": f.classes = try int()
            case "imageSize": f.imageSize = try ints()
            case "inputChannels": f.inputChannels = try int()
            case "normalizationMean": f.normalizationMean = try floats()
            case "normalizationStd": f.normalizationStd = try floats()
            case "groupNormEpsilon": f.groupNormEpsilon = try float()
            case "batchNormEpsilon": f.batchNormEpsilon = try float()
            case "data": f.data = value.trimmingCharacters(in: CharacterSet(charactersIn: "'\" "))
            case "sigma": f.sigma = try float()
            default:
                switch value.lowercased() {
                case "true", "1": f.injectionConv = true
                case "false", "0": f.injectionConv = false
                default: throw bad()
                }
            }
        }
        return f
    }

    /// `base` with these fields set. Lists longer than `branches` are cut to it (the public YAML lists all four
    /// sizes); a branch count outside 1–4 or lists shorter than it throw naming the field.
    public func applied(to base: MDEQConfiguration, path: String) throws -> MDEQConfiguration {
        var c = base
        if let v = channels { c.channels = v }
        if let v = headChannels { c.headChannels = v }
        if let n = branches {
            guard (1...4).contains(n) else {
                throw CoordinatorError.configurationField("branches", value: "\(n)", reason: "1 to 4 branches are supported (\(path))")
            }
            for (field, list) in [("channels", c.channels), ("headChannels", c.headChannels)] where list.count < n {
                throw CoordinatorError.configurationField(field, value: "\(list)", reason: "fewer than branches = \(n) entries (\(path))")
            }
            c.channels = Array(c.channels.prefix(n)); c.headChannels = Array(c.headChannels.prefix(n))
        }
        if let v = finalChannels { c.finalChannels = v }
        if let v = expansion { c.expansion = v }
        if let v = groups { c.groups = v }
        if let v = stemDownsamples { c.stemDownsamples = v }
        if let v = classes { c.classes = v }
        if let v = imageSize {
            guard v.count == 1 || v.count == 2 else {
                throw CoordinatorError.configurationField("imageSize", value: "\(v)", reason: "one side or [H, W] (\(path))")
            }
            c.inputHeight = v[0]; c.inputWidth = v.last!
        }
        if let v = inputChannels, v != c.inputChannels {
            c.inputChannels = v
            c.normalizationMean = v == 3 ? MDEQConfiguration.cifarMean : [Float](repeating: 0.5, count: v)
            c.normalizationStd = v == 3 ? MDEQConfiguration.cifarStd : [Float](repeating: 0.5, count: v)
        }
        if let v = normalizationMean { c.normalizationMean = v }
        if let v = normalizationStd { c.normalizationStd = v }
        if let v = groupNormEpsilon { c.epsilon = v }
        // The public rule for the injection conv follows the final shape unless given.
        c.injectionConv = injectionConv ?? !(c.stemDownsamples == 0 && c.channels.count <= 2)
        return c
    }
}
