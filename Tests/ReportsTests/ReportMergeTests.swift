import Testing

@testable import Reports

private func report(_ path: String, _ lines: [String]) throws -> CertificationReport {
    CertificationReport(path: path, rows: try CertificationReport.parse(reportText(lines), path: path))
}

@Test("Disjoint partial reports merge into one sorted by idx")
func mergeDisjoint() throws {
    let a = try report("part1.tsv", ["40\t1\t1\t0.5\t1\t0:00:01", "0\t2\t-1\t0.0\t0\t0:00:02"])
    let b = try report("part2.tsv", ["20\t3\t3\t1.23\t1\t0:00:03", "60\t4\t5\t0.1\t0\t0:00:04"])
    let merged = try ReportMerge.merge([a, b])
    #expect(merged.map(\.index) == [0, 20, 40, 60])
    #expect(
        CertificationReport.render(merged)
            == reportText([
                "0\t2\t-1\t0.0\t0\t0:00:02", "20\t3\t3\t1.23\t1\t0:00:03", "40\t1\t1\t0.5\t1\t0:00:01", "60\t4\t5\t0.1\t0\t0:00:04",
            ]))
    #expect(try ReportMerge.merge([]).isEmpty)
}

@Test("Conflicting rows for one idx are refused, naming both files and the idx")
func mergeConflict() throws {
    let a = try report("part1.tsv", ["0\t1\t1\t0.5\t1\t0:00:01", "20\t1\t1\t0.5\t1\t0:00:01"])
    for other in ["20\t1\t2\t0.5\t0\t0:00:01", "20\t1\t1\t0.51\t1\t0:00:01", "20\t2\t2\t0.5\t1\t0:00:01"] {
        let b = try report("part2.tsv", ["40\t1\t1\t0.5\t1\t0:00:01", other])
        let error = reportsError { _ = try ReportMerge.merge([a, b], allowDuplicates: true) }
        #expect(
            error
                == .conflictingRows(
                    index: 20, path: "part1.tsv", row: "20\t1\t1\t0.5\t1\t0:00:01",
                    otherPath: "part2.tsv", otherRow: other))
        #expect(error?.description.hasPrefix("idx 20: conflicting rows in part1.tsv (") == true)
        #expect(error?.description.contains("and part2.tsv (") == true)
    }
}

@Test("Identical results for one idx are refused unless duplicates are allowed, then kept once (the first)")
func mergeDuplicates() throws {
    let a = try report("part1.tsv", ["0\t1\t1\t0.5\t1\t0:00:01", "20\t1\t1\t0.5\t1\t0:00:01"])
    let b = try report("part2.tsv", ["20\t1\t1\t0.5\t1\t0:00:09", "40\t1\t1\t0.5\t1\t0:00:01"])
    #expect(reportsError { _ = try ReportMerge.merge([a, b]) } == .duplicateRows(index: 20, path: "part1.tsv", otherPath: "part2.tsv"))
    let merged = try ReportMerge.merge([a, b], allowDuplicates: true)
    #expect(merged.map(\.index) == [0, 20, 40])
    #expect(merged[1].timeText == "0:00:01")
}
