import Foundation
import Testing

@testable import Reports

@Test("A row renders as Cohen's line; abstention is -1, 0.0, 0")
func rowLine() {
    let row = CertificationRow(index: 40, label: 3, prediction: 3, radius: 0.2496, seconds: 1.5)
    #expect(row.line == "40\t3\t3\t0.25\t1\t0:00:01.500000")
    #expect(row.correct)
    let wrong = CertificationRow(index: 60, label: 3, prediction: 5, radius: 1234.5, seconds: 2)
    #expect(wrong.line == "60\t3\t5\t1.23e+03\t0\t0:00:02")
    let abstain = CertificationRow.abstention(index: 0, label: 7, seconds: 0.000001)
    #expect(abstain.line == "0\t7\t-1\t0.0\t0\t0:00:00.000001")
    #expect(abstain.isAbstention && !abstain.correct)
    #expect(CertificationRow(index: 1, label: 0, prediction: 0, radius: -0.0, seconds: 0).radiusText == "0.0")
}

@Test("Write then read gives the rows back with radii rounded to 3 significant digits")
func roundTrip() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let rows = [
        CertificationRow(index: 0, label: 1, prediction: 1, radius: 0.73469, seconds: 3.25),
        CertificationRow.abstention(index: 20, label: 4, seconds: 1),
        CertificationRow(index: 40, label: 2, prediction: 9, radius: 0.000123456, seconds: 86_401.5),
        CertificationRow(index: 60, label: 0, prediction: 0, radius: 12.0, seconds: 0),
    ]
    let path = dir.file("r.tsv")
    try CertificationReport.write(rows, to: path)
    let text = try dir.read("r.tsv")
    #expect(
        text
            == reportText([
                "0\t1\t1\t0.735\t1\t0:00:03.250000", "20\t4\t-1\t0.0\t0\t0:00:01",
                "40\t2\t9\t0.000123\t0\t1 day, 0:00:01.500000", "60\t0\t0\t12.0\t1\t0:00:00",
            ]))
    let back = try CertificationReport.read(path: path)
    #expect(back.rows.map(\.index) == [0, 20, 40, 60])
    #expect(back.rows.map(\.radius) == [0.735, 0, 0.000123, 12.0])
    #expect(back.rows.map(\.microseconds) == rows.map(\.microseconds))
    #expect(back.rows.map(\.prediction) == [1, -1, 9, 0])
    // Rendering what was read reproduces the file byte for byte.
    #expect(CertificationReport.render(back.rows) == text)
    // No temporary files are left beside it.
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["r.tsv"])
}

@Test("A header-only report has no rows")
func headerOnly() throws {
    #expect(try CertificationReport.parse(reportText([]), path: "h.tsv").isEmpty)
}

@Test("Malformed rows are refused with the file and line named")
func malformedRows() {
    let cases: [(String, String)] = [
        ("0\t1\t1\t0.5\t1", "expected 6 tab-separated fields, found 5"),
        ("0\t1\t1\t0.5\t1\t0:00:01\textra", "found 7"),
        ("x\t1\t1\t0.5\t1\t0:00:01", "idx 'x'"),
        ("-1\t1\t1\t0.5\t1\t0:00:01", "idx '-1'"),
        ("01\t1\t1\t0.5\t1\t0:00:01", "idx '01'"),
        ("0\t1\t-2\t0.5\t0\t0:00:01", "predict '-2'"),
        ("0\t1\t1\tabc\t1\t0:00:01", "radius 'abc'"),
        ("0\t1\t1\t-0.5\t1\t0:00:01", "radius '-0.5'"),
        ("0\t1\t1\tinf\t1\t0:00:01", "radius 'inf'"),
        ("0\t1\t1\t0.2496\t1\t0:00:01", "not in the 3-significant-digit form '0.25'"),
        ("0\t1\t1\t0.50\t1\t0:00:01", "form '0.5'"),
        ("0\t1\t1\t0.5\t2\t0:00:01", "correct '2'"),
        ("0\t1\t1\t0.5\t0\t0:00:01", "correct = 0 but predict = 1 and label = 1"),
        ("0\t1\t2\t0.5\t1\t0:00:01", "correct = 1 but predict = 2"),
        ("0\t1\t-1\t0.5\t0\t0:00:01", "abstention (predict -1) with radius 0.5"),
        ("0\t1\t1\t0.5\t1\t1.5", "time '1.5'"),
        ("0 1 1 0.5 1 0:00:01", "found 1"),
    ]
    for (line, reason) in cases {
        let error = reportsError { _ = try CertificationReport.parse(reportText(["5\t0\t0\t1.0\t1\t0:00:01", line]), path: "m.tsv") }
        guard case let .malformedRow(path, lineNumber, message)? = error else {
            Issue.record("no malformedRow for '\(line)': \(String(describing: error))"); continue
        }
        #expect(path == "m.tsv" && lineNumber == 3)
        #expect(message.contains(reason), "'\(message)' should contain '\(reason)'")
        #expect(error!.description.hasPrefix("m.tsv:3: malformed row: "))
    }
}

@Test("Wrong header, blank line, duplicate idx, truncated last line, unreadable file")
func malformedFiles() throws {
    #expect(
        reportsError { _ = try CertificationReport.parse("idx\tlabel\tpredict\tradius\tcorrect\n", path: "a") }
            == .badHeader(path: "a", found: "idx\tlabel\tpredict\tradius\tcorrect"))
    #expect(reportsError { _ = try CertificationReport.parse("", path: "a") } == .badHeader(path: "a", found: ""))
    #expect(
        reportsError { _ = try CertificationReport.parse(reportText(["0\t1\t1\t0.5\t1\t0:00:01", ""]), path: "b") }
            == .malformedRow(path: "b", line: 3, reason: "blank line"))
    let dup = reportText(["0\t1\t1\t0.5\t1\t0:00:01", "20\t1\t1\t0.5\t1\t0:00:01", "0\t1\t1\t0.5\t1\t0:00:02"])
    let dupError = reportsError { _ = try CertificationReport.parse(dup, path: "c.tsv") }
    #expect(dupError == .duplicateIndex(path: "c.tsv", index: 0, firstLine: 2, line: 4))
    #expect(dupError?.description == "c.tsv:4: duplicate idx 0 (first on line 2)")
    let truncated = reportText(["0\t1\t1\t0.5\t1\t0:00:01"]) + "20\t1\t1\t0.5\t1\t0:00:0"
    #expect(reportsError { _ = try CertificationReport.parse(truncated, path: "d") } == .truncatedLastLine(path: "d", line: 3))
    #expect(
        reportsError { _ = try CertificationReport.read(path: "/nonexistent/x.tsv") }
            == .fileUnreadable(path: "/nonexistent/x.tsv", reason: "no such file"))
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    #expect(reportsError { _ = try CertificationReport.read(path: dir.path) } == .fileUnreadable(path: dir.path, reason: "is a directory"))
    let binary = dir.file("bin.tsv")
    try Data([0x69, 0x64, 0xff, 0xfe, 0x0a]).write(to: URL(fileURLWithPath: binary))
    #expect(reportsError { _ = try CertificationReport.read(path: binary) } == .fileUnreadable(path: binary, reason: "not UTF-8 text"))
}

@Test("Atomic write refuses an unwritable path and leaves an existing file untouched")
func atomicWriteErrors() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let row = CertificationRow(index: 0, label: 0, prediction: 0, radius: 1, seconds: 1)
    let missing = dir.file("no/such/dir/out.tsv")
    guard case .fileUnwritable(let p, let reason)? = reportsError({ try CertificationReport.write([row], to: missing) }) else {
        Issue.record("expected fileUnwritable"); return
    }
    #expect(p == missing && reason.contains("does not exist"))
    #expect(reportsError { try CertificationReport.write([row], to: dir.path) } == .fileUnwritable(path: dir.path, reason: "is a directory"))
    let existing = try dir.write("keep.tsv", "old")
    try CertificationReport.write([row], to: existing)
    #expect(try dir.read("keep.tsv") == reportText([row.line]))
}
