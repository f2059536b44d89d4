import Foundation

/// Python's text renderings used by Cohen's certification reports, reproduced exactly so files written here
/// are byte-identical to those of `locuslab/smoothing` (and of the SRS reference code).
///
/// - `general(_:precision:)` is `'{:.p}'.format(x)` (format type omitted: `g` with at least one digit after the
///   point in fixed notation, and a switch to exponent notation when the decimal exponent e satisfies
///   e < −4 or e ≥ p − 1).
/// - `timedelta(microseconds:)` is `str(datetime.timedelta(microseconds=…))`: `[D day[s], ]H:MM:SS[.ffffff]`.
/// - `microseconds(seconds:)` is the rounding `datetime.timedelta(seconds=t)` applies to a float.
public enum PythonFormat {
    /// `'{:.p}'.format(x)` for a Double: p significant digits, correctly rounded (half to even on the exact
    /// binary value, as `_Py_dg_dtoa`), trailing zeros dropped, `.0` kept on integers in fixed notation,
    /// exponent with a sign and at least two digits. Examples at p = 3: 0.2496 → `0.25`, 0 → `0.0`,
    /// 12.345 → `12.3`, 123 → `1.23e+02`, 1234.5 → `1.23e+03`, 1e-5 → `1e-05`; inf → `inf`, nan → `nan`.
    public static func general(_ x: Double, precision p: Int = 3) -> String {
        precondition(p >= 1 && p <= 40, "precision must be in 1...40")
        if x.isNaN { return "nan" }
        if x.isInfinite { return x < 0 ? "-inf" : "inf" }
        // C's %.{p-1}e is correctly rounded (glibc and Darwin libc use exact arithmetic), giving the p digits
        // and the exponent that _Py_dg_dtoa mode 2 gives.
        var buffer = [CChar](repeating: 0, count: 64)
        let n = withVaList([p - 1, x]) { vsnprintf(&buffer, buffer.count, "%.*e", $0) }
        precondition(n > 0 && n < buffer.count)
        let text = String(decoding: buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let negative = text.hasPrefix("-")
        let body = negative ? text.dropFirst() : Substring(text)
        guard let e = body.firstIndex(of: "e"), let exponent = Int(body[body.index(after: e)...]) else {
            preconditionFailure("unexpected %e output \(text)")
        }
        var digits = Array(body[..<e].filter { $0 != "." })
        while digits.count > 1, digits.last == "0" { digits.removeLast() }
        let decimalPoint = exponent + 1  // position of the decimal point relative to the digits
        var out = negative ? "-" : ""
        if decimalPoint <= -4 || decimalPoint > p - 1 {
            out.append(digits[0])
            if digits.count > 1 { out += "." + String(digits[1...]) }
            out += (exponent < 0 ? "e-" : "e+") + (abs(exponent) < 10 ? "0" : "") + String(abs(exponent))
        } else if decimalPoint <= 0 {
            out += "0." + String(repeating: "0", count: -decimalPoint) + String(digits)
        } else if decimalPoint >= digits.count {
            out += String(digits) + String(repeating: "0", count: decimalPoint - digits.count) + ".0"
        } else {
            out += String(digits[..<decimalPoint]) + "." + String(digits[decimalPoint...])
        }
        return out
    }

    /// The whole microseconds `datetime.timedelta(seconds: t)` holds, with CPython's rounding: the integer
    /// part exactly, then 10⁶ × frac(t) in Double arithmetic, its fractional leftover rounded half to even.
    public static func microseconds(seconds t: Double) -> Int64 {
        precondition(t.isFinite && abs(t) < 9.2e12, "time must be finite and below ~290,000 years")
        let whole = t.rounded(.towardZero)
        var us = Int64(whole) * 1_000_000
        let fraction = t - whole
        if fraction == 0 { return us }
        let scaled = 1_000_000 * fraction
        let scaledWhole = scaled.rounded(.towardZero)
        us += Int64(scaledWhole)
        let leftover = scaled - scaledWhole
        var rounded = leftover.rounded(.toNearestOrAwayFromZero)
        if abs(rounded - leftover) == 0.5 {
            let odd: Double = us & 1 == 0 ? 0 : 1
            rounded = 2 * ((leftover + odd) * 0.5).rounded(.toNearestOrAwayFromZero) - odd
        }
        return us + Int64(rounded)
    }

    /// `str(datetime.timedelta(microseconds: us))`: `H:MM:SS` plus `.ffffff` when the microseconds are not
    /// zero, prefixed by `D day, ` / `D days, ` from one day on (days floor, so −1 µs is `-1 day, 23:59:59.999999`).
    public static func timedelta(microseconds us: Int64) -> String {
        let perDay: Int64 = 86_400_000_000
        let days = us >= 0 ? us / perDay : -((-us + perDay - 1) / perDay)
        let rest = us - days * perDay
        let micro = rest % 1_000_000, totalSeconds = rest / 1_000_000
        let h = totalSeconds / 3600, m = (totalSeconds / 60) % 60, s = totalSeconds % 60
        var out = days != 0 ? "\(days) day\(abs(days) != 1 ? "s" : ""), " : ""
        out += "\(h):" + twoDigits(m) + ":" + twoDigits(s)
        if micro != 0 {
            let f = String(micro)
            out += "." + String(repeating: "0", count: 6 - f.count) + f
        }
        return out
    }

    /// Parse a `timedelta` string back to microseconds: `[D day[s], ]H:MM:SS[.ffffff]` with MM, SS in 00…59 and
    /// exactly six fraction digits when present. Returns nil on anything else.
    public static func parseTimedelta(_ text: Substring) -> Int64? {
        var rest = text
        var days: Int64 = 0
        if let comma = rest.firstIndex(of: ",") {
            let prefix = rest[..<comma]
            let parts = prefix.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, let d = Int64(parts[0]), parts[1] == (abs(d) == 1 ? "day" : "days"),
                d != 0, abs(d) < 100_000_000
            else { return nil }
            days = d
            rest = rest[rest.index(after: comma)...]
            guard rest.first == " " else { return nil }
            rest = rest.dropFirst()
        }
        let fields = rest.split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 3, isDigits(fields[0]), fields[0].count <= 9, let h = Int64(fields[0]),
            fields[1].count == 2, isDigits(fields[1]), let m = Int64(fields[1]), m < 60
        else { return nil }
        let secondsField = fields[2].split(separator: ".", omittingEmptySubsequences: false)
        guard secondsField.count <= 2, secondsField[0].count == 2, isDigits(secondsField[0]),
            let s = Int64(secondsField[0]), s < 60
        else { return nil }
        var micro: Int64 = 0
        if secondsField.count == 2 {
            guard secondsField[1].count == 6, isDigits(secondsField[1]), let f = Int64(secondsField[1]) else { return nil }
            micro = f
        }
        return days * 86_400_000_000 + ((h * 60 + m) * 60 + s) * 1_000_000 + micro
    }

    private static func twoDigits(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }

    private static func isDigits(_ s: Substring) -> Bool {
        !s.isEmpty && s.allSatisfy { $0.isASCII && $0.isNumber }
    }
}
