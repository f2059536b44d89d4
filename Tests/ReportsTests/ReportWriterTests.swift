import Foundation
import Testing

@testable import Reports

private func rows(_ n: Int) -> [CertificationRow] {
    (0..<n).map { (i: Int) -> CertificationRow in
        let label = i % 10
        if i % 3 == 2 { return CertificationRow.abstention(index: 20 * i, label: label, seconds: 0.5) }
        return CertificationRow(index: 20 * i, label: label, prediction: label, radius: 0.1 * Double(i), seconds: Double(i))
    }
}

@Test("The header is written on creation and each row is in the real file as soon as append returns")
func flushPerRow() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let path = dir.file("run.tsv")
    let writer = try ReportWriter(path: path, mode: .replace)
    #expect(try dir.read("run.tsv") == reportText([]))
    var expected: [String] = []
    for row in rows(5) {
        try writer.append(row)
        expected.append(row.line)
        // Read by path through a separate descriptor, with the writer still open.
        #expect(try dir.read("run.tsv") == reportText(expected))
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["run.tsv"])
    #expect(writer.completedIndices == Set(rows(5).map(\.index)))
    #expect(reportsError { try writer.append(rows(1)[0]) } == .indexAlreadyWritten(path: path, index: 0))
    writer.close()
    #expect(try CertificationReport.read(path: path).rows == writer.rows)
}

@Test("Resume removes a truncated last line, keeps the complete rows and appends after them")
func resumeAfterTruncation() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let all = rows(4)
    let crashed = reportText([all[0].line, all[1].line]) + String(all[2].line.prefix(9))
    let path = try dir.write("run.tsv", crashed)
    let writer = try ReportWriter(path: path, mode: .resume)
    #expect(writer.removedPartialLine == String(all[2].line.prefix(9)))
    #expect(writer.rows == Array(all[0..<2]))
    #expect(writer.completedIndices == [all[0].index, all[1].index])
    #expect(try dir.read("run.tsv") == reportText([all[0].line, all[1].line]))
    try writer.append(all[2])
    try writer.append(all[3])
    #expect(try dir.read("run.tsv") == reportText(all.map(\.line)))
}

@Test("Resume of a clean file, of a truncated header, of a missing file, and of a malformed file")
func resumeCases() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let all = rows(3)
    let clean = try dir.write("clean.tsv", reportText([all[0].line]))
    let w1 = try ReportWriter(path: clean, mode: .resume)
    #expect(w1.removedPartialLine == nil && w1.rows == [all[0]])
    try w1.append(all[1])
    #expect(try dir.read("clean.tsv") == reportText([all[0].line, all[1].line]))

    let header = try dir.write("header.tsv", "idx\tlab")
    let w2 = try ReportWriter(path: header, mode: .resume)
    #expect(w2.rows.isEmpty && w2.removedPartialLine == "idx\tlab")
    #expect(try dir.read("header.tsv") == reportText([]))

    let w3 = try ReportWriter(path: dir.file("new.tsv"), mode: .resume)
    try w3.append(all[2])
    #expect(try dir.read("new.tsv") == reportText([all[2].line]))

    // A file that is not a report is refused and left as it was.
    let other = try dir.write("other.tsv", "a,b,c\n1,2,3")
    #expect(reportsError { _ = try ReportWriter(path: other, mode: .resume) } == .badHeader(path: other, found: "a,b,c"))
    #expect(try dir.read("other.tsv") == "a,b,c\n1,2,3")
}

@Test("Replace truncates, createNew refuses an existing file, unwritable paths are refused before anything is created")
func openModes() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let path = try dir.write("old.tsv", reportText([rows(1)[0].line]))
    #expect(reportsError { _ = try ReportWriter(path: path, mode: .createNew) } == .fileUnwritable(path: path, reason: "file exists"))
    _ = try ReportWriter(path: path, mode: .replace)
    #expect(try dir.read("old.tsv") == reportText([]))
    let missing = dir.file("missing/out.tsv")
    guard case .fileUnwritable(_, let reason)? = reportsError({ _ = try ReportWriter(path: missing, mode: .replace) }) else {
        Issue.record("expected fileUnwritable"); return
    }
    #expect(reason == "directory \(dir.file("missing")) does not exist")
    #expect(reportsError { try ReportWriter.checkWritable(path: dir.path) } == .fileUnwritable(path: dir.path, reason: "is a directory"))
    #expect(reportsError { try ReportWriter.checkWritable(path: "") } == .fileUnwritable(path: "", reason: "empty path"))
    #expect(!FileManager.default.fileExists(atPath: dir.file("missing")))
}

@Test("Concurrent appends from several threads give whole lines, each once")
func concurrentAppends() async throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let path = dir.file("par.tsv")
    let writer = try ReportWriter(path: path, mode: .replace, synchronize: false)
    let all = rows(64)
    await withTaskGroup(of: Void.self) { group in
        for row in all { group.addTask { try? writer.append(row) } }
    }
    let back = try CertificationReport.read(path: path)
    #expect(Set(back.rows.map(\.line)) == Set(all.map(\.line)))
    #expect(back.rows.count == all.count)
}

@Test(
    "AppendOnlyLineFile: resume keeps complete lines, cuts a line truncated inside a multi-byte character, appends after them; createNew refuses an existing file"
)
func appendOnlyLineFileResume() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let path = dir.file("log.jsonl")
    let file = try AppendOnlyLineFile(path: path, mode: .replace)
    try file.append(line: "{\"a\":1}")
    try file.append(line: "σ = 0.25")
    file.close()
    // An interrupted write: half of "σ" (2 bytes in UTF-8) and no newline.
    let handle = try #require(FileHandle(forWritingAtPath: path))
    handle.seekToEndOfFile()
    handle.write(Data([0x78, 0xCF]))
    handle.closeFile()
    let resumed = try AppendOnlyLineFile(path: path, mode: .resume)
    #expect(resumed.keptText == "{\"a\":1}\nσ = 0.25\n")
    #expect(resumed.removedPartialLine != nil)
    try resumed.append(line: "third")
    resumed.close()
    #expect(try dir.read("log.jsonl") == "{\"a\":1}\nσ = 0.25\nthird\n")
    #expect(throws: ReportsError.self) { _ = try AppendOnlyLineFile(path: path, mode: .createNew) }
    let replaced = try AppendOnlyLineFile(path: path, mode: .replace)
    #expect(replaced.keptText.isEmpty && replaced.size == 0)
    #expect(try dir.read("log.jsonl") == "")
}
