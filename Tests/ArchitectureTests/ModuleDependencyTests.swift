// The layering rules of docs/architecture.md, checked against the source: every `import` of a module under
// Sources/ must point to a lower layer (never upward, never sideways), the restricted modules are imported only
// where the rules allow, and Package.swift declares exactly the package modules each target imports.
import Foundation
import Testing

/// Layers, lowest first. A module may import package modules of strictly lower layers only.
let layers: [[String]] = [
    ["CBLAS", "CMPI", "CZlib", "CDirectConv", "CSystem"],  // C import surfaces
    ["TensorCore", "Statistics", "Distributed", "Reports"],  // foundations: tensors and RNG, statistics, communication, report files
    ["NeuralNet", "Datasets"],  // layers and checkpoints; data sets
    ["Optimizers", "Equilibrium", "Transformers", "_TestSupport"],
    ["TrainingLoop"],  // the loop every trainer shares
    ["Certification", "RobustAttention", "Attacks", "Distillation", "Pruning"],
    ["Coordinator"],  // jobs
    ["DistributedMPI"],  // the MPI communicator, chosen by the executable only
    ["equicert"],  // the command line
]

/// Modules only some modules may import, whatever their layers.
let restricted: [String: Set<String>] = [
    "CBLAS": ["TensorCore"],
    "CMPI": ["DistributedMPI"],
    "Distributed": ["Coordinator", "DistributedMPI", "equicert"],
    "ArgumentParser": ["equicert"],
]

/// Modules outside the package a module may import (the platform and ArgumentParser).
let external: Set<String> = ["Foundation", "Dispatch", "Glibc", "Darwin", "Musl", "ArgumentParser", "Testing"]

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Every module imported by the Swift files under `directory` (with the file that imports it).
func imports(in directory: URL) -> [String: [String]] {
    var found: [String: [String]] = [:]
    guard let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else { return [:] }
    for case let url as URL in files where url.pathExtension == "swift" {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            guard let i = words.firstIndex(of: "import"), words[..<i].allSatisfy({ $0.hasPrefix("@") }), i + 1 < words.count else { continue }
            found[words[i + 1], default: []].append(url.lastPathComponent)
        }
    }
    return found
}

func layer(of module: String) -> Int? { layers.firstIndex { $0.contains(module) } }

/// The source modules: the directories of Sources/.
func sourceModules() throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: packageRoot.appendingPathComponent("Sources").path).sorted()
}

@Suite("Module dependencies")
struct ModuleDependencyTests {
    @Test("every source module has a layer")
    func everyModuleHasALayer() throws {
        let modules = try sourceModules()
        #expect(!modules.isEmpty)
        for m in modules { #expect(layer(of: m) != nil, "Sources/\(m) has no layer in the rules") }
    }

    @Test("imports point to lower layers only, restricted modules only where allowed")
    func importsPointDown() throws {
        for module in try sourceModules() {
            guard let own = layer(of: module) else { continue }
            for (imported, files) in imports(in: packageRoot.appendingPathComponent("Sources/\(module)")) {
                if let allowed = restricted[imported] {
                    #expect(allowed.contains(module), "\(module) imports \(imported) (\(files[0])): only \(allowed.sorted()) may")
                }
                if external.contains(imported) { continue }
                guard let other = layer(of: imported) else {
                    Issue.record("\(module) imports \(imported) (\(files[0])), which is neither a package module nor allowed"); continue
                }
                #expect(
                    other < own,
                    "\(module) (layer \(own)) imports \(imported) (layer \(other)) in \(files[0]): \(other == own ? "sideways" : "upward")")
            }
        }
    }

    @Test("only one file imports CBLAS")
    func oneBLASFile() {
        let files = imports(in: packageRoot.appendingPathComponent("Sources"))["CBLAS"] ?? []
        #expect(files.count == 1, "CBLAS imported by \(files)")
    }

    @Test("Package.swift declares exactly the package modules each Swift target imports")
    func declaredEqualsImported() throws {
        let manifest = try String(contentsOf: packageRoot.appendingPathComponent("Package.swift"), encoding: .utf8)
        let declared = declaredDependencies(manifest)
        for module in try sourceModules() {
            guard let deps = declared[module] else { continue }  // C targets and system libraries
            let imported = Set(imports(in: packageRoot.appendingPathComponent("Sources/\(module)")).keys)
                .subtracting(external.subtracting(["ArgumentParser"]))
            #expect(
                Set(deps) == imported,
                "\(module): declared but not imported \(Set(deps).subtracting(imported).sorted()), imported but not declared \(imported.subtracting(deps).sorted())"
            )
        }
    }

    /// `.target(name: "X", dependencies: ["A", .product(name: "B", …)])` → X: [A, B], for (executable) targets
    /// with Swift sources.
    func declaredDependencies(_ manifest: String) -> [String: [String]] {
        var result: [String: [String]] = [:]
        let target = try! NSRegularExpression(pattern: #"\.(?:executableTarget|target)\(name: "([A-Za-z_]+)"(?:, dependencies: \[([^\]]*)\])?"#)
        let quoted = try! NSRegularExpression(pattern: #""([A-Za-z_]+)""#)
        let ns = manifest as NSString
        for m in target.matches(in: manifest, range: NSRange(location: 0, length: ns.length)) {
            let name = ns.substring(with: m.range(at: 1))
            guard name != "CDirectConv" else { continue }
            var deps: [String] = []
            if m.range(at: 2).location != NSNotFound {
                let list = ns.substring(with: m.range(at: 2)) as NSString
                for q in quoted.matches(in: list as String, range: NSRange(location: 0, length: list.length)) {
                    let dep = list.substring(with: q.range(at: 1))
                    if dep != "swift-argument-parser" { deps.append(dep) }
                }
                // `.product(name: "ArgumentParser", package: "swift-argument-parser")` contributes its name.
            }
            result[name] = deps
        }
        return result
    }
}
