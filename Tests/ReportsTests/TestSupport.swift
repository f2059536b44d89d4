import Foundation

@testable import Reports

/// A fresh temporary directory for one test, removed by `cleanup()`.
struct TemporaryDirectory {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "/reports-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func write(_ name: String, _ text: String) throws -> String {
        let p = file(name)
        try text.write(toFile: p, atomically: false, encoding: .utf8)
        return p
    }
    func read(_ name: String) throws -> String { try String(contentsOfFile: file(name), encoding: .utf8) }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// A report's text from rows given as lines without the header.
func reportText(_ lines: [String]) -> String {
    CertificationRow.header + "\n" + lines.map { $0 + "\n" }.joined()
}

/// The error `body` throws, as a `ReportsError` (nil when it does not throw one).
func reportsError(_ body: () throws -> Void) -> ReportsError? {
    do { try body(); return nil } catch let e as ReportsError { return e } catch { return nil }
}
