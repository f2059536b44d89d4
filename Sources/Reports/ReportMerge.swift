/// Merging partial certification reports (shards of one run, or ranks of different runs) into one.
public enum ReportMerge {
    /// The union of the reports' rows keyed by idx, sorted by idx.
    ///
    /// The same idx in two reports is refused: `ReportsError.conflictingRows` when the results differ (label,
    /// prediction or the rounded radius), `ReportsError.duplicateRows` when they agree (time aside) unless
    /// `allowDuplicates`, in which case the first occurrence (in argument order) is kept. Both errors name the
    /// two files and the idx.
    public static func merge(_ reports: [CertificationReport], allowDuplicates: Bool = false) throws -> [CertificationRow] {
        var byIndex: [Int: (row: CertificationRow, path: String)] = [:]
        for report in reports {
            for row in report.rows {
                if let (first, firstPath) = byIndex[row.index] {
                    guard first.hasSameResult(as: row) else {
                        throw ReportsError.conflictingRows(
                            index: row.index, path: firstPath, row: first.line,
                            otherPath: report.path, otherRow: row.line)
                    }
                    guard allowDuplicates else {
                        throw ReportsError.duplicateRows(index: row.index, path: firstPath, otherPath: report.path)
                    }
                } else {
                    byIndex[row.index] = (row, report.path)
                }
            }
        }
        return byIndex.values.map(\.row).sorted { $0.index < $1.index }
    }
}
