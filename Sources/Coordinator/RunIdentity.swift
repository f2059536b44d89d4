import Certification
import Datasets
import Foundation
import TensorCore

/// What determines a certify run's rows, as named text: the checkpoint's SHA-256 (its content, not its path), the
/// data set and the directory it was read from, the image selection, and every field of the smoothing
/// configuration. Recorded in the manifest (`settings`, hashed as `settingsHash`); `--resume` and `report merge`
/// compare it and name the first setting that differs.
public struct RunIdentity: Sendable, Equatable {
    /// Setting name → value as text (JSON for structured values).
    public var settings: [String: String]

    public init(settings: [String: String]) { self.settings = settings }

    /// The identity of `s` on `source` read from `dataDirectory`, the checkpoint hashed here.
    init(_ s: SmoothingRunSettings, source: ImageDataSource, dataDirectory: String) throws {
        guard let sha = SHA256.hex(file: s.model) else {
            throw CoordinatorError.checkpoint(path: s.model, reason: "cannot be read to compute its SHA-256")
        }
        var d = Self.configurationSettings(s.configuration)
        d["model-sha256"] = sha
        d["data"] = source.rawValue
        d["data-directory"] = dataDirectory
        d["split"] = s.split.rawValue
        d["skip"] = String(s.skip)
        d["max"] = String(s.max)
        d["shard"] = s.shardText ?? "none"
        d["attention"] = "\(s.attention)"
        d["calibration-examples"] = String(s.calibrationCount)
        settings = d
    }

    /// Each top-level field of the configuration as its JSON text (keys sorted, so equal values give equal text).
    static func configurationSettings(_ c: SmoothingConfiguration) -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        guard let data = try? encoder.encode(c), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            return ["configuration": "\(c)"]
        }
        var d: [String: String] = [:]
        for (key, value) in object {
            if let nested = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]) {
                d[key] = String(decoding: nested, as: UTF8.self)
            }
        }
        return d
    }

    /// SHA-256 of the settings, one `name=value` line each in name order.
    public var hash: String {
        SHA256.hex(Array(settings.keys.sorted().map { "\($0)=\(settings[$0]!)\n" }.joined().utf8))
    }

    /// The first setting (in name order) whose value differs, with its value here and in `other`; settings in
    /// `ignoring` are skipped. Nil when all agree.
    public func firstDifference(from other: RunIdentity, ignoring: Set<String> = []) -> (name: String, mine: String, theirs: String)? {
        for name in Set(settings.keys).union(other.settings.keys).sorted() where !ignoring.contains(name) {
            let mine = settings[name] ?? "(not recorded)", theirs = other.settings[name] ?? "(not recorded)"
            if mine != theirs { return (name, mine, theirs) }
        }
        return nil
    }
}

extension RunIdentity {
    /// `report merge`: the parts' manifests (beside each report, where present) must describe the same run but for
    /// the shard and where the data was read: same checkpoint content, data set, split, selection and smoothing.
    /// Throws naming the two parts and the first setting that differs. Parts without a manifest are not compared.
    public static func checkMergeable(parts: [String]) throws {
        var first: (path: String, manifest: RunManifest)?
        for part in parts {
            let path = RunManifest.path(forReport: part)
            guard FileManager.default.fileExists(atPath: path) else { continue }
            let m = try RunManifest.read(path)
            guard let (firstPath, f) = first.map({ ($0.path, $0.manifest) }) else { first = (part, m); continue }
            let difference: (name: String, mine: String, theirs: String)?
            if let a = m.identity, let b = f.identity {
                difference = a.firstDifference(from: b, ignoring: ["shard", "data-directory"])
            } else {
                let pairs: [(String, String, String)] = [
                    ("configuration", "\(m.configuration)", "\(f.configuration)"), ("data", m.data, f.data),
                    ("split", m.split, f.split), ("skip", String(m.skip), String(f.skip)),
                ]
                difference = pairs.first { $0.1 != $0.2 }.map { (name: $0.0, mine: $0.1, theirs: $0.2) }
            }
            if let d = difference {
                throw CoordinatorError.mismatch(
                    "report merge: \(d.name) differs: \(d.theirs) in \(firstPath), \(d.mine) in \(part); only parts of one run can be merged")
            }
        }
    }
}
