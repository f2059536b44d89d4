import Foundation
import Testing

@testable import Datasets

@Suite("DataLocator search order")
struct DataLocatorTests {
    /// Layout: root/shared/data/mnist, root/repo (cwd) with repo/data/mnist, root/env/mnist, and an executable
    /// at root/repo/.build/debug/tool.
    func layout() throws -> (TempDirectory, URL, URL) {
        let dir = try TempDirectory()
        let fm = FileManager.default
        let repo = dir.url.appendingPathComponent("repo")
        for sub in ["shared/data/mnist", "repo/data/mnist", "repo/data/text", "env/mnist", "repo/.build/debug", "other"] {
            try fm.createDirectory(at: dir.url.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        try dir.write("shared/data/mnist/train-images-idx3-ubyte.gz", [1])
        try dir.write("env/mnist/train-images-idx3-ubyte", [1])
        return (dir, repo, repo.appendingPathComponent(".build/debug/tool"))
    }

    @Test("$EQUICERT_DATA, when set, wins over ../shared/data; unset, ../shared/data relative to the current directory comes first")
    func environmentThenShared() throws {
        let (dir, repo, exe) = try layout()
        let env = ["EQUICERT_DATA": dir.url.appendingPathComponent("env").path]
        let viaEnv = try DataLocator(currentDirectory: repo, executable: exe, environment: env).locate("mnist")
        #expect(viaEnv.path == dir.url.appendingPathComponent("env/mnist").standardizedFileURL.path)
        let shared = try DataLocator(currentDirectory: repo, executable: exe, environment: [:]).locate("mnist")
        #expect(shared.path == dir.url.appendingPathComponent("shared/data/mnist").standardizedFileURL.path)
    }

    @Test("from an unrelated directory the executable's ancestors find ../shared/data")
    func viaExecutable() throws {
        let (dir, _, exe) = try layout()
        let other = dir.url.appendingPathComponent("other")
        let found = try DataLocator(currentDirectory: other, executable: exe, environment: [:]).locate("mnist")
        #expect(found.path == dir.url.appendingPathComponent("shared/data/mnist").standardizedFileURL.path)
    }

    @Test("$EQUICERT_DATA, then ./data; required files are checked (with .gz variants)")
    func fallbacks() throws {
        let (dir, repo, _) = try layout()
        try FileManager.default.removeItem(at: dir.url.appendingPathComponent("shared"))
        let env = ["EQUICERT_DATA": dir.url.appendingPathComponent("env").path]
        let viaEnv = try DataLocator(currentDirectory: repo, executable: nil, environment: env)
            .locate("mnist", requiring: ["train-images-idx3-ubyte"])
        #expect(viaEnv.path == dir.url.appendingPathComponent("env/mnist").standardizedFileURL.path)
        // The env directory lacks the labels file, so ./data/mnist must not be accepted either (it is empty).
        #expect(
            datasetsError {
                _ = try DataLocator(currentDirectory: repo, executable: nil, environment: env)
                    .locate("mnist", requiring: ["train-labels-idx1-ubyte"])
            } != nil)
        let local = try DataLocator(currentDirectory: repo, executable: nil, environment: [:]).locate("text")
        #expect(local.path == repo.appendingPathComponent("data/text").standardizedFileURL.path)
    }

    @Test("the error lists every place searched, in order")
    func notFound() throws {
        let (dir, repo, exe) = try layout()
        let env = ["EQUICERT_DATA": dir.url.appendingPathComponent("env").path]
        let locator = DataLocator(currentDirectory: repo, executable: exe, environment: env)
        let error = datasetsError { _ = try locator.locate("cifar10") }
        guard case .dataNotFound(let name, let searched)? = error else { Issue.record("not reported"); return }
        #expect(name == "cifar10")
        #expect(searched == locator.candidates(for: "cifar10").map(\.path))
        let shared = dir.url.appendingPathComponent("shared/data/cifar10").standardizedFileURL.path
        let envDir = dir.url.appendingPathComponent("env/cifar10").standardizedFileURL.path
        let local = repo.appendingPathComponent("data/cifar10").standardizedFileURL.path
        let order = [envDir, shared, local].map { searched.firstIndex(of: $0) }
        #expect(order.allSatisfy { $0 != nil })
        #expect(order.compactMap { $0 } == order.compactMap { $0 }.sorted())
        #expect("\(error!)".contains("Scripts/setup-data"))
    }
}
