/// Bad input to the `Transformers` module: model directories, configuration files, vocabularies, text bytes.
///
/// Every case carries the path (or `"(in memory)"`) and the offending field or value; `description` is one line,
/// suitable for the command line's error message. Programmer errors (wrong shapes passed by code) are
/// `precondition`s, not cases here. Checkpoint tensor problems (missing, mis-shaped) are `NeuralNetError`s,
/// which name the tensor.
public enum TransformersError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A file could not be read (missing, a directory, no permission).
    case fileUnreadable(path: String, reason: String)
    /// `config.json` is not a JSON object, or a field is missing or has a wrong type.
    case badConfiguration(path: String, field: String, reason: String)
    /// The configuration asks for something this encoder does not implement (e.g. another activation).
    case unsupportedConfiguration(path: String, field: String, value: String)
    /// The vocabulary file is empty or lacks a required special token.
    case badVocabulary(path: String, reason: String)
    /// The vocabulary's size differs from the number of rows of the word-embedding matrix.
    case vocabularyMismatch(path: String, vocabularySize: Int, embeddingRows: Int)
    /// Bytes given as text are not valid UTF-8; `offset` is the first byte of the first invalid sequence.
    case invalidUTF8(offset: Int)
    /// A maximum sequence length that cannot hold [CLS] and [SEP], or exceeds the position table.
    case badMaximumLength(value: Int, limit: Int)
    /// A text to classify is empty or only whitespace (`index` in the list given).
    case emptyText(index: Int)
    /// A classifier checkpoint's metadata is missing a field or holds a bad value.
    case badCheckpoint(path: String, field: String, reason: String)

    public var description: String {
        switch self {
        case let .fileUnreadable(path, reason):
            return "\(path): cannot read file: \(reason)"
        case let .badConfiguration(path, field, reason):
            return "\(path): configuration field '\(field)': \(reason)"
        case let .unsupportedConfiguration(path, field, value):
            return "\(path): configuration field '\(field)' = \(value) is not supported by this encoder"
        case let .badVocabulary(path, reason):
            return "\(path): bad WordPiece vocabulary: \(reason)"
        case let .vocabularyMismatch(path, vocabularySize, embeddingRows):
            return "\(path): vocabulary has \(vocabularySize) tokens but the word-embedding matrix has "
                + "\(embeddingRows) rows (vocabulary and checkpoint belong to different models)"
        case let .invalidUTF8(offset):
            return "text is not valid UTF-8: invalid byte sequence at byte offset \(offset)"
        case let .badMaximumLength(value, limit):
            return "maximum sequence length \(value) must lie in 2...\(limit) ([CLS] and [SEP] included)"
        case let .emptyText(index):
            return "text \(index) is empty (or only whitespace): nothing to classify"
        case let .badCheckpoint(path, field, reason):
            return "\(path): classifier checkpoint metadata '\(field)': \(reason)"
        }
    }
}
