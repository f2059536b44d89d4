// Errors for bad input files and configurations in the Datasets module.

/// Bad input to a data loader: a missing, corrupt or malformed file, or an inconsistent configuration.
///
/// Every case names the file (or the data set) and the problem, so a command-line front end can print
/// `description` as one line and exit. Loaders never crash on bad files and never return a partial read.
public enum DatasetsError: Error, CustomStringConvertible, Equatable, Sendable {
    /// No file at `path`; `tried` lists every name that was looked for.
    case fileNotFound(path: String, tried: [String])
    /// The file exists but could not be opened or read.
    case unreadable(path: String, reason: String)
    /// A gzip stream ended early or failed its integrity check.
    case corruptGzip(path: String, reason: String)
    /// The IDX magic number is not the expected one (`0x00000803` images, `0x00000801` labels).
    case badMagic(path: String, expected: UInt32, found: UInt32)
    /// A header is present but inconsistent (zero or overflowing dimensions, unexpected image size, …).
    case badHeader(path: String, reason: String)
    /// The payload does not have the size the header (or record format) requires.
    case sizeMismatch(path: String, expectedBytes: Int, actualBytes: Int)
    /// The image and label files disagree about the number of examples.
    case countMismatch(imagesPath: String, images: Int, labelsPath: String, labels: Int)
    /// Label `label` of example `index` is not in `0..<classCount`.
    case labelOutOfRange(path: String, index: Int, label: Int, classCount: Int)
    /// A text file's first line is not the expected column header.
    case badHeaderLine(path: String, expected: [String], found: [String])
    /// A data row of a text file is malformed (1-based `line`).
    case malformedRow(path: String, line: Int, reason: String)
    /// A text file is not valid UTF-8 at `line` (1-based), `byteOffset` bytes into that line.
    case invalidUTF8(path: String, line: Int, byteOffset: Int)
    /// A split-index file is malformed or does not fit the data set (`line` 0 means the whole file).
    case badSplitFile(path: String, line: Int, reason: String)
    /// Split fractions that are negative or do not sum to one.
    case invalidFractions(train: Double, validation: Double, test: Double)
    /// A data set directory was not found in any of the searched places.
    case dataNotFound(name: String, searched: [String])
    /// Writing an output file failed (nothing was left half-written).
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .fileNotFound(path, tried):
            return "\(path): file not found (tried \(tried.joined(separator: ", ")))"
        case let .unreadable(path, reason):
            return "\(path): cannot read: \(reason)"
        case let .corruptGzip(path, reason):
            return "\(path): corrupt gzip stream: \(reason)"
        case let .badMagic(path, expected, found):
            return "\(path): bad IDX magic number \(hex32(found)) (expected \(hex32(expected)))"
        case let .badHeader(path, reason):
            return "\(path): bad header: \(reason)"
        case let .sizeMismatch(path, expected, actual):
            return "\(path): wrong size: expected \(expected) data bytes, found \(actual)"
        case let .countMismatch(imagesPath, images, labelsPath, labels):
            return "\(imagesPath) has \(images) images but \(labelsPath) has \(labels) labels"
        case let .labelOutOfRange(path, index, label, classCount):
            return "\(path): label \(label) of example \(index) is outside 0..<\(classCount)"
        case let .badHeaderLine(path, expected, found):
            return "\(path):1: expected header columns \(expected.joined(separator: " ")), found \(found.joined(separator: " "))"
        case let .malformedRow(path, line, reason):
            return "\(path):\(line): \(reason)"
        case let .invalidUTF8(path, line, byteOffset):
            return "\(path):\(line): invalid UTF-8 at byte \(byteOffset) of the line"
        case let .badSplitFile(path, line, reason):
            return line > 0 ? "\(path):\(line): bad split file: \(reason)" : "\(path): bad split file: \(reason)"
        case let .invalidFractions(train, validation, test):
            return "split fractions train \(train), validation \(validation), test \(test) must be ≥ 0 and sum to 1"
        case let .dataNotFound(name, searched):
            return "data set '\(name)' not found; looked in: \(searched.joined(separator: ", ")) (run Scripts/setup-data)"
        case let .writeFailed(path, reason):
            return "\(path): cannot write: \(reason)"
        }
    }
}

private func hex32(_ v: UInt32) -> String {
    let digits = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
