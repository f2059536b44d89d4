// Labelled text corpora read from tab-separated files with a header line.
import Foundation

/// A labelled text corpus: `texts[i]` has class `labels[i] ∈ 0..<classNames.count`.
public struct TextDataset: Sendable, Equatable {
    /// Short name, e.g. `"bbc-news"`.
    public var name: String
    /// The documents, in file order.
    public var texts: [String]
    /// Class index of each document.
    public var labels: [Int]
    /// Class names; the label of `classNames[c]` is `c`.
    public var classNames: [String]
    /// The second column of each row (BBC: article file id; Rotten Tomatoes: movie slug).
    public var ids: [String]

    /// Number of documents.
    public var count: Int { texts.count }
    /// Number of classes.
    public var classCount: Int { classNames.count }

    /// A corpus from its parts; preconditions: equal lengths, labels in range.
    public init(name: String, texts: [String], labels: [Int], classNames: [String], ids: [String]) {
        precondition(texts.count == labels.count && ids.count == labels.count, "texts, labels, ids differ in length")
        precondition(labels.allSatisfy { $0 >= 0 && $0 < classNames.count }, "label outside 0..<\(classNames.count)")
        self.name = name
        self.texts = texts
        self.labels = labels
        self.classNames = classNames
        self.ids = ids
    }

    /// Number of documents of each class.
    public var classHistogram: [Int] {
        var h = [Int](repeating: 0, count: classCount)
        for y in labels { h[y] += 1 }
        return h
    }

    /// The sub-corpus at `indices`, in that order.
    public func subset(_ indices: [Int]) -> TextDataset {
        TextDataset(
            name: name, texts: indices.map { texts[$0] }, labels: indices.map { labels[$0] },
            classNames: classNames, ids: indices.map { ids[$0] })
    }

    /// BBC News topic corpus, `bbc-news.tsv` in `directory` (columns `label id text`), 5 classes.
    public static let bbcNewsClassNames = ["business", "entertainment", "politics", "sports", "tech"]
    /// Rotten Tomatoes sentiment classes: 0 = rotten (negative), 1 = fresh (positive).
    public static let rottenTomatoesClassNames = ["rotten", "fresh"]

    /// The BBC News corpus (2,225 articles) from `directory/bbc-news.tsv`.
    public static func bbcNews(directory: URL) throws -> TextDataset {
        try readTSV(
            path: directory.appendingPathComponent("bbc-news.tsv").path, name: "bbc-news",
            header: ["label", "id", "text"], classNames: bbcNewsClassNames)
    }

    /// Rotten Tomatoes snippets from `directory/rt-snippets.tsv` (columns `label movie text`) for sentiment;
    /// the `plot` rows (summaries, not reviews) are dropped.
    public static func rottenTomatoes(directory: URL) throws -> TextDataset {
        try readTSV(
            path: directory.appendingPathComponent("rt-snippets.tsv").path, name: "rt-snippets",
            header: ["label", "movie", "text"], classNames: rottenTomatoesClassNames, dropLabels: ["plot"])
    }

    /// Reads a three-column UTF-8 TSV `label <tab> id <tab> text` whose first line must equal `header`.
    ///
    /// Rows whose label is in `dropLabels` are skipped; any other label must be one of `classNames`.
    /// Throws, naming the file and the 1-based line, on a wrong header, a row without exactly three fields,
    /// an empty text, an unknown label, a blank line, or invalid UTF-8. A final newline and `\r\n` endings are accepted.
    public static func readTSV(
        path: String, name: String, header: [String], classNames: [String],
        dropLabels: Set<String> = []
    ) throws -> TextDataset {
        precondition(header.count == 3, "readTSV expects a three-column header")
        guard FileManager.default.fileExists(atPath: path) else {
            throw DatasetsError.fileNotFound(path: path, tried: [path])
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DatasetsError.unreadable(path: path, reason: "cannot read contents")
        }
        let classIndex = Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, $0) })
        var texts: [String] = [], labels: [Int] = [], ids: [String] = []
        let lines = try decodeLines([UInt8](data), path: path)
        guard let first = lines.first else {
            throw DatasetsError.badHeaderLine(path: path, expected: header, found: [])
        }
        let found = first.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard found == header else { throw DatasetsError.badHeaderLine(path: path, expected: header, found: found) }
        for (offset, line) in lines.enumerated().dropFirst() {
            let lineNumber = offset + 1
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 3 else {
                throw DatasetsError.malformedRow(
                    path: path, line: lineNumber,
                    reason: line.isEmpty ? "blank line" : "expected 3 tab-separated fields, found \(fields.count)")
            }
            let label = String(fields[0])
            if dropLabels.contains(label) { continue }
            guard let y = classIndex[label] else {
                throw DatasetsError.malformedRow(
                    path: path, line: lineNumber,
                    reason: "unknown label '\(label)' (expected one of \(classNames.joined(separator: ", ")))")
            }
            guard !fields[2].allSatisfy(\.isWhitespace) else {
                throw DatasetsError.malformedRow(path: path, line: lineNumber, reason: "empty text")
            }
            labels.append(y)
            ids.append(String(fields[1]))
            texts.append(String(fields[2]))
        }
        return TextDataset(name: name, texts: texts, labels: labels, classNames: classNames, ids: ids)
    }

    /// Splits bytes on `\n` (dropping one trailing empty line and any `\r` before `\n`) and validates UTF-8.
    private static func decodeLines(_ bytes: [UInt8], path: String) throws -> [String] {
        var lines: [String] = []
        var start = 0
        var lineNumber = 1
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            var stop = end
            if stop > start && bytes[stop - 1] == 0x0D { stop -= 1 }
            let slice = bytes[start..<stop]
            guard let line = String(validating: slice, as: UTF8.self) else {
                throw DatasetsError.invalidUTF8(path: path, line: lineNumber, byteOffset: firstInvalidUTF8(slice))
            }
            lines.append(line)
            start = end + 1
            lineNumber += 1
        }
        return lines
    }

    /// Offset of the first byte that starts an invalid UTF-8 sequence.
    private static func firstInvalidUTF8(_ bytes: ArraySlice<UInt8>) -> Int {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded): offset += encoded.count
            case .error: return offset
            case .emptyInput: return offset
            }
        }
    }
}
