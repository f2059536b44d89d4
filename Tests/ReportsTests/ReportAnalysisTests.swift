import Foundation
import Testing

@testable import Reports

/// Ten hand-made rows. Correct rows have radii 0.5, 0.25, 1.23, 0.0, 0.749, 1.0, 0.251 (7 of 10);
/// two abstentions (idx 2, 7); one wrong prediction with radius 0.8 (idx 4). Times sum to 20 s.
private let handMade = reportText([
    "0\t1\t1\t0.5\t1\t0:00:01",
    "1\t2\t2\t0.25\t1\t0:00:02",
    "2\t3\t-1\t0.0\t0\t0:00:01.500000",
    "3\t4\t4\t1.23\t1\t0:00:00.500000",
    "4\t5\t6\t0.8\t0\t0:00:03",
    "5\t6\t6\t0.0\t1\t0:00:01",
    "6\t7\t7\t0.749\t1\t0:00:02",
    "7\t8\t-1\t0.0\t0\t0:00:01",
    "8\t9\t9\t1.0\t1\t0:00:04",
    "9\t0\t0\t0.251\t1\t0:00:04",
])

@Test("Certified accuracy, ACR, abstention rate and mean time of a hand-made report")
func handMadeSummary() throws {
    let rows = try CertificationReport.parse(handMade, path: "hand.tsv")
    let s = ReportSummary(name: "hand", rows: rows, radii: [0, 0.25, 0.5, 0.75, 1.0, 1.25], baselineMeanSeconds: 8)
    // r = 0: all 7 correct rows (radius 0 counts: radius ≥ 0). r = 0.25: 0.25, 0.251, 0.5, 0.749, 1.0, 1.23.
    // r = 0.5: 0.5, 0.749, 1.0, 1.23. r = 0.75: 1.0, 1.23 (0.749 < 0.75). r = 1.0: 1.0, 1.23. r = 1.25: none.
    // The wrong prediction with radius 0.8 never counts.
    #expect(s.certifiedAccuracy == [0.7, 0.6, 0.4, 0.2, 0.2, 0.0])
    // ACR = (0.5 + 0.25 + 1.23 + 0 + 0.749 + 1.0 + 0.251) / 10 = 3.98 / 10.
    #expect(abs(s.averageCertifiedRadius - 0.398) < 1e-12)
    #expect(s.abstentionRate == 0.2)
    #expect(s.rowCount == 10)
    #expect(abs(s.meanSeconds - 2.0) < 1e-12)
    #expect(abs(s.speedup! - 4.0) < 1e-12)
    #expect(ReportSummary(name: "x", rows: rows, radii: [0]).speedup == nil)
}

@Test("Analysis uses the radius as rounded in the file: 0.7496 is written 0.75 and certified at r = 0.75")
func roundedRadiusCounts() throws {
    let row = CertificationRow(index: 0, label: 1, prediction: 1, radius: 0.7496, seconds: 1)
    #expect(ReportAnalysis.certifiedAccuracy([row], atRadius: 0.75) == 0)
    let read = try CertificationReport.parse(CertificationReport.render([row]), path: "r")
    #expect(ReportAnalysis.certifiedAccuracy(read, atRadius: 0.75) == 1)
}

@Test("The step curve lists each distinct correct radius with the accuracy up to it")
func stepCurve() throws {
    let rows = try CertificationReport.parse(handMade, path: "hand.tsv")
    let steps = ReportAnalysis.steps(rows)
    #expect(steps.map(\.radius) == [0.0, 0.25, 0.251, 0.5, 0.749, 1.0, 1.23])
    #expect(steps.map(\.accuracy) == [0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    // The curve agrees with certifiedAccuracy at every step radius and just beyond it.
    for (k, step) in steps.enumerated() {
        #expect(ReportAnalysis.certifiedAccuracy(rows, atRadius: step.radius) == step.accuracy)
        let after = k + 1 < steps.count ? steps[k + 1].accuracy : 0
        #expect(ReportAnalysis.certifiedAccuracy(rows, atRadius: step.radius.nextUp) == after)
    }
    #expect(ReportAnalysis.steps([]).isEmpty)
}

@Test("analyze reads files, names them, takes the baseline from the list or another file, and prints a Markdown table")
func analyzeFiles() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let hand = try dir.write("hand.tsv", handMade)
    let slow = try dir.write("slow.tsv", reportText(["0\t1\t1\t0.5\t1\t0:00:06", "1\t2\t3\t0.5\t0\t0:00:10"]))
    let (summaries, reports) = try ReportAnalysis.analyze(paths: [hand, slow], radii: ReportAnalysis.defaultRadii, baseline: slow)
    #expect(summaries.map(\.name) == ["hand", "slow"])
    #expect(reports.map(\.rows.count) == [10, 2])
    #expect(summaries[1].certifiedAccuracy == [0.5, 0.5, 0.5, 0, 0])
    #expect(summaries.map { $0.speedup! } == [4.0, 1.0])
    let table = ReportAnalysis.markdownTable(summaries)
    let lines = table.split(separator: "\n")
    #expect(lines.count == 4)
    #expect(lines[0] == "| report | N | r = 0.0 | r = 0.25 | r = 0.5 | r = 0.75 | r = 1.0 | ACR | abstain | time/image | speedup |")
    #expect(lines[2] == "| hand | 10 | 0.700 | 0.600 | 0.400 | 0.200 | 0.200 | 0.398 | 20.0% | 2.000 s | 4.00× |")
    #expect(lines[3] == "| slow | 2 | 0.500 | 0.500 | 0.500 | 0.000 | 0.000 | 0.250 | 0.0% | 8.000 s | 1.00× |")

    // A baseline outside the list, custom names, no speedup column without a baseline.
    let (named, _) = try ReportAnalysis.analyze(paths: [hand], names: ["SRS | A-1"], radii: [0.5], baseline: slow)
    #expect(named[0].speedup == 4.0 && named[0].name == "SRS | A-1")
    #expect(ReportAnalysis.markdownTable(named).contains("| SRS \\| A-1 | 10 | 0.400 |"))
    let (plain, _) = try ReportAnalysis.analyze(paths: [hand], radii: [0])
    #expect(!ReportAnalysis.markdownTable(plain).contains("speedup"))
    #expect(!ReportAnalysis.markdownTable(plain).contains("f-evals"))
    // f-evaluations per image (from manifests) add a column; unknown values show as a dash.
    var costed = summaries
    costed[0].evaluationsPerImage = 40_123.4
    let costedLines = ReportAnalysis.markdownTable(costed).split(separator: "\n")
    #expect(costedLines[0].hasSuffix("| speedup | f-evals/image |"))
    #expect(costedLines[2].hasSuffix("| 4.00× | 40123 |") && costedLines[3].hasSuffix("| 1.00× | – |"))
}

@Test("analyze refuses bad options and empty reports")
func analyzeErrors() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let hand = try dir.write("hand.tsv", handMade)
    let empty = try dir.write("empty.tsv", reportText([]))
    #expect(reportsError { _ = try ReportAnalysis.analyze(paths: [hand, empty]) } == .emptyReport(path: empty))
    #expect(reportsError { _ = try ReportAnalysis.analyze(paths: [hand], baseline: empty) } == .emptyReport(path: empty))
    #expect(
        reportsError { _ = try ReportAnalysis.analyze(paths: [hand], names: ["a", "b"]) }
            == .invalidOption(name: "names", value: "a,b", reason: "2 names for 1 reports"))
    #expect(reportsError { _ = try ReportAnalysis.analyze(paths: []) } != nil)
    #expect(try ReportAnalysis.parseRadii("0, 0.25,1") == [0, 0.25, 1])
    for bad in ["", "0,,1", "a", "-0.5", "inf", "0;1"] {
        guard case .invalidOption(name: "radii", _, _)? = reportsError({ _ = try ReportAnalysis.parseRadii(bad) }) else {
            Issue.record("'\(bad)' accepted"); continue
        }
    }
}
