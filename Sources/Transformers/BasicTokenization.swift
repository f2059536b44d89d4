import Foundation

/// BERT's "basic tokenisation" (normalisation and pre-tokenisation) on Unicode scalars.
enum BasicTokenization {
    /// Clean, isolate CJK, lower-case, NFD, drop Mn.
    static func normalize(_ input: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var cleaned = String.UnicodeScalarView()
        var ascii = true
        for c in input {
            if c.value < 0x80 {  // fast path: ASCII has no marks, no CJK, and lower-cases to ASCII
                if c.value >= 0x20 && c.value < 0x7F {
                    cleaned.append(c.value >= 0x41 && c.value <= 0x5A ? Unicode.Scalar(c.value + 0x20)! : c)
                } else if c == "\t" || c == "\n" || c == "\r" {
                    cleaned.append(" ")
                }  // other C0 controls and DEL are dropped
                continue
            }
            ascii = false
            if c.value == 0xFFFD || isControl(c) { continue }
            if isWhitespace(c) { cleaned.append(" "); continue }
            if isCJK(c) {
                cleaned.append(" "); cleaned.append(c); cleaned.append(" ")
                continue
            }
            for l in c.properties.lowercaseMapping.unicodeScalars { cleaned.append(l) }
        }
        if ascii { return Array(cleaned) }
        let decomposed = String(cleaned).decomposedStringWithCanonicalMapping
        return decomposed.unicodeScalars.filter { $0.properties.generalCategory != .nonspacingMark }
    }

    /// Split on White_Space, with every punctuation scalar a word of its own.
    static func words(_ s: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var out: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        for c in s {
            if c.properties.isWhitespace {
                if !current.isEmpty { out.append(current); current = [] }
            } else if isPunctuation(c) {
                if !current.isEmpty { out.append(current); current = [] }
                out.append([c])
            } else {
                current.append(c)
            }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// Tab, LF and CR count as whitespace; otherwise the White_Space property.
    static func isWhitespace(_ c: Unicode.Scalar) -> Bool {
        c == "\t" || c == "\n" || c == "\r" || c.properties.isWhitespace
    }

    /// "Other" characters (Cc, Cf, Co, Cn, Cs) except tab, LF and CR.
    static func isControl(_ c: Unicode.Scalar) -> Bool {
        if c == "\t" || c == "\n" || c == "\r" { return false }
        switch c.properties.generalCategory {
        case .control, .format, .privateUse, .unassigned, .surrogate: return true
        default: return false
        }
    }

    /// ASCII punctuation (33–47, 58–64, 91–96, 123–126) or a Unicode P* category.
    static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) {
            return true
        }
        switch c.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default: return false
        }
    }

    /// The CJK Unified Ideographs blocks BERT isolates (not Hiragana, Katakana or Hangul).
    static func isCJK(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
            0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default: return false
        }
    }
}
