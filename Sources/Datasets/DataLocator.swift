// Finding data set directories without a fixed install location.
import Foundation

/// Finds a data set directory such as `mnist`, `fashion-mnist` or `text`.
///
/// Search order (first directory that exists and holds every required file wins):
/// 1. `$EQUICERT_DATA/<name>` when the variable is set: an explicit choice wins over any found location;
/// 2. `<cwd>/../shared/data/<name>`;
/// 3. `<A>/../shared/data/<name>` for the executable's directory A and each of its ancestors (so a binary in
///    `<repo>/.build/release/` finds `<repo>/../shared/data`);
/// 4. `<cwd>/data/<name>` (where `Scripts/setup-data` installs), then `<A>/data/<name>` for the same ancestors.
/// The directory used is recorded in a certify run's manifest (`dataDirectory`).
public struct DataLocator: Sendable {
    /// The directory relative paths start from.
    public var currentDirectory: URL
    /// The running executable, or nil.
    public var executable: URL?
    /// The environment (only `EQUICERT_DATA` is read).
    public var environment: [String: String]

    /// A locator with explicit inputs (for tests and tools).
    public init(currentDirectory: URL, executable: URL?, environment: [String: String]) {
        self.currentDirectory = currentDirectory.standardizedFileURL
        self.executable = executable?.standardizedFileURL
        self.environment = environment
    }

    /// A locator for this process: its current directory, executable path and environment.
    public static var process: DataLocator {
        let exe = Bundle.main.executableURL ?? CommandLine.arguments.first.map { URL(fileURLWithPath: $0) }
        return DataLocator(
            currentDirectory: URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
            executable: exe?.resolvingSymlinksInPath(),
            environment: ProcessInfo.processInfo.environment)
    }

    /// Every candidate directory for `name`, in search order, without duplicates.
    public func candidates(for name: String) -> [URL] {
        var ancestors: [URL] = []
        if var dir = executable?.deletingLastPathComponent() {
            while true {
                ancestors.append(dir)
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path || ancestors.count > 8 { break }
                dir = parent
            }
        }
        var list: [URL] = []
        if let env = environment["EQUICERT_DATA"], !env.isEmpty {
            list.append(URL(fileURLWithPath: env, relativeTo: currentDirectory))
        }
        list.append(currentDirectory.appendingPathComponent("../shared/data"))
        list += ancestors.map { $0.appendingPathComponent("../shared/data") }
        list.append(currentDirectory.appendingPathComponent("data"))
        list += ancestors.map { $0.appendingPathComponent("data") }
        var seen = Set<String>()
        return list.map { $0.appendingPathComponent(name).standardizedFileURL }.filter { seen.insert($0.path).inserted }
    }

    /// The first candidate directory for `name` that exists and contains each of `requiredFiles`
    /// (a file `f` also counts as present when `f.gz` exists).
    ///
    /// Throws `DatasetsError.dataNotFound` listing every place searched.
    public func locate(_ name: String, requiring requiredFiles: [String] = []) throws -> URL {
        let fm = FileManager.default
        let all = candidates(for: name)
        for dir in all {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: dir.path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            let complete = requiredFiles.allSatisfy { f in
                fm.fileExists(atPath: dir.appendingPathComponent(f).path)
                    || fm.fileExists(atPath: dir.appendingPathComponent(f + ".gz").path)
            }
            if complete { return dir }
        }
        throw DatasetsError.dataNotFound(name: name, searched: all.map(\.path))
    }

    /// The IDX files an MNIST-style directory must hold.
    public static let idxFiles = [
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
    ]
}
