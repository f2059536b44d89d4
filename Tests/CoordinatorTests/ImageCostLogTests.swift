import Coordinator
// The per-image cost log that lets `certify --resume` keep the counts of images finished before an interruption.
import Foundation
import Testing

@Test("ImageCostLog: entries survive a torn last line; resume keeps the last entry per image and appends after them")
func imageCostLogResume() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("imagecostlog-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let report = dir.appendingPathComponent("run.tsv").path
    let path = ImageCostLog.path(forReport: report)
    #expect(path == dir.appendingPathComponent("run.images.jsonl").path)
    func cost(_ i: Int, _ evals: Int64) -> RunManifest.ImageCost {
        RunManifest.ImageCost(
            index: i, sampleEvaluations: evals, divergedSamples: 0, computeSeconds: 0.5, agreement: 1,
            pALower: 0.9, selectedClass: 3, estimationCounts: [1, 2, 3])
    }
    let log = try ImageCostLog.open(path: path, resume: false)
    #expect(log.entries.isEmpty)
    try log.append(cost(20, 100))
    try log.append(cost(0, 200))
    try log.append(cost(20, 300))  // a re-run image: the last entry wins
    // A crash in the middle of the next write.
    let handle = try #require(FileHandle(forWritingAtPath: path))
    handle.seekToEndOfFile()
    handle.write(Data("{\"index\":40,\"sampleEv".utf8))
    handle.closeFile()
    let resumed = try ImageCostLog.open(path: path, resume: true)
    #expect(resumed.entries == [cost(0, 200), cost(20, 300)])
    try resumed.append(cost(40, 400))
    #expect(try ImageCostLog.open(path: path, resume: true).entries == [cost(0, 200), cost(20, 300), cost(40, 400)])
    resumed.remove()
    #expect(!FileManager.default.fileExists(atPath: path))
    // A file that is not a cost log is refused on resume and left exactly as it was.
    try Data("not json\n{\"index\":".utf8).write(to: URL(fileURLWithPath: path))
    #expect(throws: CoordinatorError.self) { _ = try ImageCostLog.open(path: path, resume: true) }
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "not json\n{\"index\":")
}
