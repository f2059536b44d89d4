// Helpers for the Datasets tests: temporary directories, IDX/CIFAR byte builders, gzip via /bin/gzip, real-data lookup.
import Foundation
import Testing

@testable import Datasets

/// A fresh temporary directory, removed when the value is deinitialised.
final class TempDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("equicert-datasets-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }

    /// Writes `bytes` to `name` in the directory and returns its path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = url.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Writes `bytes` gzip-compressed (by the system gzip, an implementation independent of our reader) to `name`.
    @discardableResult
    func writeGzip(_ name: String, _ bytes: [UInt8]) throws -> String {
        let raw = try write(name + ".raw-tmp", bytes)
        let gz = Process()
        gz.executableURL = URL(fileURLWithPath: FileManager.default.fileExists(atPath: "/bin/gzip") ? "/bin/gzip" : "/usr/bin/gzip")
        gz.arguments = ["-n", "-c", raw]
        let pipe = Pipe()
        gz.standardOutput = pipe
        try gz.run()
        let compressed = pipe.fileHandleForReading.readDataToEndOfFile()
        gz.waitUntilExit()
        #expect(gz.terminationStatus == 0)
        try FileManager.default.removeItem(atPath: raw)
        return try write(name, [UInt8](compressed))
    }
}

/// Big-endian bytes of a UInt32.
func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }

/// An IDX file: `magic`, big-endian `dims`, then `payload`.
func idxBytes(magic: UInt32, dims: [UInt32], payload: [UInt8]) -> [UInt8] {
    bigEndian(magic) + dims.flatMap(bigEndian) + payload
}

/// `n` images of `rows × cols` whose pixel (i, y, x) is `(i·7 + y·3 + x) mod 256`, as an IDX image file.
func imageIDX(n: Int, rows: Int, cols: Int) -> (file: [UInt8], pixels: [UInt8]) {
    var pixels: [UInt8] = []
    for i in 0..<n { for y in 0..<rows { for x in 0..<cols { pixels.append(UInt8((i * 7 + y * 3 + x) % 256)) } } }
    return (idxBytes(magic: 0x803, dims: [UInt32(n), UInt32(rows), UInt32(cols)], payload: pixels), pixels)
}

/// An IDX label file holding `labels`.
func labelIDX(_ labels: [UInt8]) -> [UInt8] {
    idxBytes(magic: 0x801, dims: [UInt32(labels.count)], payload: labels)
}

/// The error a throwing expression raised, as a `DatasetsError` (nil when it did not throw or threw another type).
func datasetsError(_ body: () throws -> Void) -> DatasetsError? {
    do { try body() } catch let e as DatasetsError { return e } catch { return nil }
    return nil
}

/// The real data set directory `name` (e.g. "mnist") as the program would find it: $EQUICERT_DATA (when set), ../shared/data,
/// or ./data after Scripts/setup-data. Tests about real data `#require` it, so absent data is a failure, not a pass.
func realDataDirectory(_ name: String, requiring files: [String]) -> URL? {
    try? DataLocator.process.locate(name, requiring: files)
}
