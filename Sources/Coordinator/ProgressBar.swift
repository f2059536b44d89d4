import Foundation

/// A one-line progress display on standard error: done/total, rate, ETA and job-specific fields.
/// On a terminal it redraws in place; otherwise it prints a line at most every `interval` seconds.
public final class ProgressBar: @unchecked Sendable {
    private let total: Int, label: String, unit: String
    private let start = Date()
    private var lastPrint = Date.distantPast
    private let interactive = isatty(2) != 0
    private let interval: TimeInterval
    private let enabled: Bool

    public init(label: String, total: Int, unit: String = "it", interval: TimeInterval = 10, enabled: Bool = true) {
        self.label = label; self.total = total; self.unit = unit
        self.interval = interactive ? 0.2 : interval
        self.enabled = enabled
    }

    /// Report `done` of `total` with extra fields (e.g. "loss 0.41 acc 87.2%").
    public func update(_ done: Int, _ fields: String = "", force: Bool = false) {
        guard enabled else { return }
        let now = Date()
        guard force || done >= total || now.timeIntervalSince(lastPrint) >= interval else { return }
        lastPrint = now
        let elapsed = now.timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let width = 24, filled = total > 0 ? min(width, width * done / total) : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = "\(label) \(bar) \(done)/\(total) \(String(format: "%.2f", rate)) \(unit)/s ETA \(Self.clock(eta)) \(fields)"
        let out = interactive ? "\r\u{1B}[K" + line + (done >= total ? "\n" : "") : line + "\n"
        FileHandle.standardError.write(Data(out.utf8))
    }

    /// H:MM:SS.
    public static func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return String(format: "%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60)
    }
}
