/// A text cut into words and the separators between them, so that words can be replaced or removed and the text
/// rebuilt exactly otherwise. A word is a maximal run of letters, digits and inner apostrophes/hyphens; everything
/// else (spaces, punctuation) is separator text.
///
///     "It's a well-made, dull film." → words ["It's", "a", "well-made", "dull", "film"],
///     separators ["", " ", " ", ", ", " ", "."]   (separators.count == words.count + 1)
public struct TextWords: Sendable, Equatable {
    public private(set) var words: [String]
    public private(set) var separators: [String]

    public init(_ text: String) {
        var words: [String] = [], separators: [String] = []
        var current = "", gap = ""
        let chars = Array(text)
        for (i, ch) in chars.enumerated() {
            let inner =
                (ch == "'" || ch == "’" || ch == "-") && !current.isEmpty
                && i + 1 < chars.count && (chars[i + 1].isLetter || chars[i + 1].isNumber)
            if ch.isLetter || ch.isNumber || inner {
                if current.isEmpty { separators.append(gap); gap = "" }
                current.append(ch)
            } else {
                if !current.isEmpty { words.append(current); current = "" }
                gap.append(ch)
            }
        }
        if !current.isEmpty { words.append(current) }
        separators.append(gap)
        if separators.count == words.count { separators.append("") }
        self.words = words; self.separators = separators
    }

    public var count: Int { words.count }

    /// The text with word i replaced by `replacements[i]` where given (an empty replacement removes the word
    /// and one adjacent space).
    public func render(replacing replacements: [Int: String] = [:]) -> String {
        var out = separators[0]
        for i in 0..<words.count {
            let w = replacements[i] ?? words[i]
            if w.isEmpty {
                // Drop the word; collapse a doubled space left behind.
                if out.hasSuffix(" ") && separators[i + 1].hasPrefix(" ") { out.removeLast() }
            } else {
                out += w
            }
            out += separators[i + 1]
        }
        return out
    }
}

/// Common English function words: never the target of a word-substitution attack (as in TextFooler).
public enum StopWords {
    public static let english: Set<String> = [
        "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be",
        "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do",
        "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he",
        "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its",
        "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once",
        "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so", "some",
        "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they",
        "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when",
        "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself",
        "yourselves", "also", "may", "might", "must", "shall", "us", "upon", "yet", "ever", "every", "whose", "s", "t",
        "'s", "n't", "don't", "doesn't", "isn't", "wasn't", "aren't", "weren't", "won't", "can't", "it's",
    ]
}
