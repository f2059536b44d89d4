import Foundation
import Testing

@testable import Datasets

@Suite("TSV text corpora")
struct TextDatasetTests {
    let header = "label\tmovie\ttext\n"

    @Test("rows are read in order, plot rows dropped, CRLF and a missing final newline accepted")
    func reads() throws {
        let dir = try TempDirectory()
        let body = header + "fresh\tm1\tGreat fun.\r\nplot\tm1\tA man walks.\nrotten\tm2\tDull – très ennuyeux\nfresh\tm3\tOK"
        try dir.write("rt-snippets.tsv", Array(body.utf8))
        let ds = try TextDataset.rottenTomatoes(directory: dir.url)
        #expect(ds.texts == ["Great fun.", "Dull – très ennuyeux", "OK"])
        #expect(ds.labels == [1, 0, 1])
        #expect(ds.ids == ["m1", "m2", "m3"])
        #expect(ds.classNames == ["rotten", "fresh"])
        #expect(ds.classHistogram == [1, 2])
        #expect(ds.subset([2, 0]).texts == ["OK", "Great fun."])
    }

    @Test("a wrong header is reported with the expected and found columns")
    func badHeader() throws {
        let dir = try TempDirectory()
        let path = try dir.write("bbc-news.tsv", Array("label\ttext\nsport\tx\n".utf8))
        #expect(
            datasetsError { _ = try TextDataset.bbcNews(directory: dir.url) }
                == .badHeaderLine(path: path, expected: ["label", "id", "text"], found: ["label", "text"]))
    }

    @Test(
        "malformed rows name the file and the line",
        arguments: [
            ("fresh\tm1\tfine\nrotten\tonly two fields\n", 3, "found 2"),
            ("fresh\tm1\tfine\n\nrotten\tm2\tx\n", 3, "blank line"),
            ("fresh\tm1\tfine\tand a fourth\n", 2, "found 4"),
            ("fresh\tm1\tfine\nneutral\tm2\tmeh\n", 3, "unknown label 'neutral'"),
            ("fresh\tm1\t  \n", 2, "empty text"),
        ])
    func malformed(body: String, line: Int, fragment: String) throws {
        let dir = try TempDirectory()
        let path = try dir.write("rt-snippets.tsv", Array((header + body).utf8))
        let error = datasetsError { _ = try TextDataset.rottenTomatoes(directory: dir.url) }
        guard case .malformedRow(let p, let l, let reason)? = error else {
            Issue.record("expected malformedRow, got \(String(describing: error))"); return
        }
        #expect(p == path && l == line)
        #expect(reason.contains(fragment))
        #expect("\(error!)".hasPrefix("\(path):\(line): "))
    }

    @Test("invalid UTF-8 is reported with line and byte offset")
    func invalidUTF8() throws {
        let dir = try TempDirectory()
        // Line 3 holds "caf" + 0xE9 (Latin-1 é) at byte 12 of the line ("rotten\tm2\tcaf" is 13 bytes → offset 13).
        let bytes = Array((header + "fresh\tm1\tok\nrotten\tm2\tcaf").utf8) + [0xE9] + Array(" au lait\n".utf8)
        let path = try dir.write("rt-snippets.tsv", bytes)
        #expect(
            datasetsError { _ = try TextDataset.rottenTomatoes(directory: dir.url) }
                == .invalidUTF8(path: path, line: 3, byteOffset: 13))
    }

    @Test("a missing corpus file is reported")
    func missing() throws {
        let dir = try TempDirectory()
        guard case .fileNotFound(let path, _)? = datasetsError({ _ = try TextDataset.bbcNews(directory: dir.url) }) else {
            Issue.record("missing file not reported"); return
        }
        #expect(path.hasSuffix("bbc-news.tsv"))
    }
}
