/// One image's certification result: a row of Cohen's report
/// `idx<TAB>label<TAB>predict<TAB>radius<TAB>correct<TAB>time` (locuslab/smoothing `certify.py`).
///
/// `prediction == -1` is an abstention (radius 0, not correct). `correct` is derived: prediction == label.
/// The radius is kept as given; the file holds it to 3 significant digits (`PythonFormat.general`), and rows read
/// from a file carry that rounded value, which is what the analysis uses (as Cohen's analysis does).
/// The time is whole microseconds, as Python's `timedelta` holds it.
public struct CertificationRow: Sendable, Equatable, Hashable {
    /// The report's header line (without the newline).
    public static let header = "idx\tlabel\tpredict\tradius\tcorrect\ttime"

    /// Index of the image in the data set split (≥ 0).
    public var index: Int
    /// True class (≥ 0).
    public var label: Int
    /// Predicted class of the smoothed classifier, or −1 for an abstention.
    public var prediction: Int
    /// Certified L2 radius (≥ 0, finite; 0 for an abstention).
    public var radius: Double
    /// Wall time spent on the image, in microseconds.
    public var microseconds: Int64

    /// A row; `microseconds` is the elapsed time. Preconditions: index, label ≥ 0; prediction ≥ −1;
    /// radius finite and ≥ 0, and 0 for an abstention; time ≥ 0.
    public init(index: Int, label: Int, prediction: Int, radius: Double, microseconds: Int64) {
        precondition(index >= 0 && label >= 0, "idx and label must be ≥ 0")
        precondition(prediction >= -1, "prediction must be a class or -1 (abstain)")
        precondition(radius.isFinite && radius >= 0, "radius must be finite and ≥ 0")
        precondition(prediction != -1 || radius == 0, "an abstention has radius 0")
        precondition(microseconds >= 0, "time must be ≥ 0")
        self.index = index
        self.label = label
        self.prediction = prediction
        self.radius = radius == 0 ? 0 : radius  // no "-0.0" in the file
        self.microseconds = microseconds
    }

    /// A row whose time is `seconds`, rounded to microseconds as `datetime.timedelta(seconds=…)` does.
    public init(index: Int, label: Int, prediction: Int, radius: Double, seconds: Double) {
        self.init(
            index: index, label: label, prediction: prediction, radius: radius,
            microseconds: PythonFormat.microseconds(seconds: seconds))
    }

    /// An abstention: prediction −1, radius 0, not correct.
    public static func abstention(index: Int, label: Int, seconds: Double) -> CertificationRow {
        CertificationRow(index: index, label: label, prediction: -1, radius: 0, seconds: seconds)
    }

    /// 1 in the `correct` column: the smoothed classifier predicted the label.
    public var correct: Bool { prediction == label }
    /// The smoothed classifier abstained.
    public var isAbstention: Bool { prediction == -1 }
    /// Elapsed time in seconds.
    public var seconds: Double { Double(microseconds) / 1e6 }
    /// The radius column: `'{:.3}'.format(radius)`.
    public var radiusText: String { PythonFormat.general(radius, precision: 3) }
    /// The time column: `str(timedelta)`, `H:MM:SS[.ffffff]`.
    public var timeText: String { PythonFormat.timedelta(microseconds: microseconds) }

    /// The row as written to the file, without the newline.
    public var line: String {
        "\(index)\t\(label)\t\(prediction)\t\(radiusText)\t\(correct ? 1 : 0)\t\(timeText)"
    }

    /// Same image and same result as written to a file (label, prediction, rounded radius); the time may differ.
    public func hasSameResult(as other: CertificationRow) -> Bool {
        index == other.index && label == other.label && prediction == other.prediction
            && radiusText == other.radiusText
    }

    /// Parse one row strictly: six tab-separated fields, integers in range, a radius in the exact 3-significant-digit
    /// form (so text and value correspond one to one), `correct` equal to (predict == label), radius 0 on an
    /// abstention, a `timedelta` time. Throws `ReportsError.malformedRow` naming `path` and `lineNumber`.
    public init(parsing text: Substring, path: String, lineNumber: Int) throws {
        func bad(_ reason: String) -> ReportsError {
            .malformedRow(path: path, line: lineNumber, reason: reason)
        }
        let f = text.split(separator: "\t", omittingEmptySubsequences: false)
        guard f.count == 6 else { throw bad("expected 6 tab-separated fields, found \(f.count)") }
        func integer(_ s: Substring, _ name: String, min: Int) throws -> Int {
            guard let v = Int(s), String(v) == s, v >= min else {
                throw bad("\(name) '\(s)' is not an integer ≥ \(min)")
            }
            return v
        }
        let index = try integer(f[0], "idx", min: 0)
        let label = try integer(f[1], "label", min: 0)
        let prediction = try integer(f[2], "predict", min: -1)
        guard let radius = Double(f[3]), radius.isFinite, radius >= 0 else {
            throw bad("radius '\(f[3])' is not a finite number ≥ 0")
        }
        let canonical = PythonFormat.general(radius, precision: 3)
        guard canonical == f[3] else {
            throw bad("radius '\(f[3])' is not in the 3-significant-digit form '\(canonical)'")
        }
        guard f[4] == "0" || f[4] == "1" else { throw bad("correct '\(f[4])' is not 0 or 1") }
        let correct = f[4] == "1"
        guard correct == (prediction == label) else {
            throw bad("correct = \(f[4]) but predict = \(prediction) and label = \(label)")
        }
        guard prediction != -1 || radius == 0 else { throw bad("abstention (predict -1) with radius \(f[3]) ≠ 0.0") }
        guard let us = PythonFormat.parseTimedelta(f[5]), us >= 0 else {
            throw bad("time '\(f[5])' is not H:MM:SS[.ffffff]")
        }
        self.init(index: index, label: label, prediction: prediction, radius: radius, microseconds: us)
    }
}
