import Foundation

/// Certified accuracy against radius for several reports, as a self-contained SVG (axes, ticks, grid, legend,
/// one step curve per report), with an optional PNG rendered by an installed converter.
///
/// Each curve is the exact step function acc(r) = #{correct ∧ radius ≥ r} / N of `ReportAnalysis.steps`, drawn
/// from r = 0 to the right edge of the axis (0 after its largest radius).
public struct CertifiedAccuracyPlot: Sendable {
    /// One curve: a legend name and its report's rows.
    public struct Series: Sendable {
        public var name: String
        public var rows: [CertificationRow]
        public init(name: String, rows: [CertificationRow]) {
            self.name = name
            self.rows = rows
        }
    }

    public var series: [Series]
    /// Title above the plot (none when nil).
    public var title: String?
    /// Smallest right edge of the radius axis (the axis also covers every certified radius).
    public var minimumRadius: Double
    /// Size in SVG user units (pixels).
    public var width: Double = 720
    public var height: Double = 450

    public init(series: [Series], title: String? = nil, minimumRadius: Double = 1.0) {
        precondition(minimumRadius > 0 && minimumRadius.isFinite)
        self.series = series
        self.title = title
        self.minimumRadius = minimumRadius
    }

    /// Line colours (matplotlib's tab10), reused cyclically.
    static let palette = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    ]

    /// The SVG document.
    public func svg() -> String {
        let left = 68.0, right = 24.0, top = title == nil ? 24.0 : 48.0, bottom = 56.0
        let plotW = width - left - right, plotH = height - top - bottom
        let maxRadius = series.flatMap { $0.rows.filter(\.correct).map(\.radius) }.max() ?? 0
        let (xStep, xMax) = Self.niceAxis(max(maxRadius, minimumRadius))
        func x(_ r: Double) -> Double { left + plotW * r / xMax }
        func y(_ a: Double) -> Double { top + plotH * (1 - a) }
        func f(_ v: Double) -> String { String(format: "%.2f", v) }

        var s = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" viewBox="0 0 \(f(width)) \(f(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="13">
            <rect x="0" y="0" width="\(f(width))" height="\(f(height))" fill="white"/>

            """
        if let title {
            s += "<text x=\"\(f(left + plotW / 2))\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">\(Self.escape(title))</text>\n"
        }
        // Grid and ticks.
        s += "<g stroke=\"#dddddd\" stroke-width=\"1\">\n"
        let xTicks = (0...Int((xMax / xStep).rounded())).map { Double($0) * xStep }
        let yTicks = (0...5).map { Double($0) / 5 }
        for t in xTicks { s += "<line x1=\"\(f(x(t)))\" y1=\"\(f(top))\" x2=\"\(f(x(t)))\" y2=\"\(f(top + plotH))\"/>\n" }
        for t in yTicks { s += "<line x1=\"\(f(left))\" y1=\"\(f(y(t)))\" x2=\"\(f(left + plotW))\" y2=\"\(f(y(t)))\"/>\n" }
        s += "</g>\n<g stroke=\"black\" stroke-width=\"1\">\n"
        for t in xTicks { s += "<line x1=\"\(f(x(t)))\" y1=\"\(f(top + plotH))\" x2=\"\(f(x(t)))\" y2=\"\(f(top + plotH + 5))\"/>\n" }
        for t in yTicks { s += "<line x1=\"\(f(left - 5))\" y1=\"\(f(y(t)))\" x2=\"\(f(left))\" y2=\"\(f(y(t)))\"/>\n" }
        s += "</g>\n<g fill=\"black\">\n"
        for t in xTicks {
            s += "<text x=\"\(f(x(t)))\" y=\"\(f(top + plotH + 20))\" text-anchor=\"middle\">\(Self.tickLabel(t))</text>\n"
        }
        for t in yTicks {
            s += "<text x=\"\(f(left - 9))\" y=\"\(f(y(t) + 4.5))\" text-anchor=\"end\">\(Self.tickLabel(t))</text>\n"
        }
        s += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 12))\" text-anchor=\"middle\">radius (L2)</text>\n"
        s +=
            "<text x=\"18\" y=\"\(f(top + plotH / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(f(top + plotH / 2)))\">certified accuracy</text>\n"
        s += "</g>\n"
        // Curves, clipped to the plot area.
        s +=
            "<clipPath id=\"plot-area\"><rect x=\"\(f(left))\" y=\"\(f(top - 2))\" width=\"\(f(plotW + 2))\" height=\"\(f(plotH + 4))\"/></clipPath>\n"
        s += "<g fill=\"none\" stroke-width=\"2\" stroke-linejoin=\"round\" clip-path=\"url(#plot-area)\">\n"
        for (i, item) in series.enumerated() {
            let steps = ReportAnalysis.steps(item.rows)
            var d = "M\(f(x(0))),\(f(y(steps.first?.accuracy ?? 0)))"
            for (k, step) in steps.enumerated() {
                let next = k + 1 < steps.count ? steps[k + 1].accuracy : 0
                d += " H\(f(x(step.radius))) V\(f(y(next)))"
            }
            d += " H\(f(x(xMax)))"
            s += "<path d=\"\(d)\" stroke=\"\(Self.palette[i % Self.palette.count])\"/>\n"
        }
        s += "</g>\n"
        // Axes box.
        s +=
            "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"black\" stroke-width=\"1\"/>\n"
        // Legend, top right inside the plot.
        if !series.isEmpty {
            let longest = series.map { $0.name.count }.max() ?? 0
            let boxW = 44 + 7.5 * Double(min(longest, 60)), boxH = 10 + 20 * Double(series.count)
            let bx = left + plotW - boxW - 10, by = top + 10
            s +=
                "<g>\n<rect x=\"\(f(bx))\" y=\"\(f(by))\" width=\"\(f(boxW))\" height=\"\(f(boxH))\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#999999\"/>\n"
            for (i, item) in series.enumerated() {
                let ly = by + 15 + 20 * Double(i)
                s +=
                    "<line x1=\"\(f(bx + 8))\" y1=\"\(f(ly))\" x2=\"\(f(bx + 32))\" y2=\"\(f(ly))\" stroke=\"\(Self.palette[i % Self.palette.count])\" stroke-width=\"2\"/>\n"
                s += "<text x=\"\(f(bx + 38))\" y=\"\(f(ly + 4.5))\">\(Self.escape(item.name))</text>\n"
            }
            s += "</g>\n"
        }
        s += "</svg>\n"
        return s
    }

    /// Write the SVG to `path` atomically.
    public func writeSVG(to path: String) throws {
        try AtomicFile.write(Data(svg().utf8), to: path)
    }

    /// A nice tick step (1, 2, 2.5 or 5 × 10^k) giving about 4–8 ticks, and the axis end (a multiple of it ≥ `maximum`).
    static func niceAxis(_ maximum: Double) -> (step: Double, end: Double) {
        precondition(maximum > 0 && maximum.isFinite)
        let raw = maximum / 6
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        var end = (maximum / step).rounded(.up) * step
        if end < maximum * (1 - 1e-12) { end += step }
        return (step, end)
    }

    /// Tick labels without float noise: 0, 0.25, 1, 1.5 (%g of the value rounded to 10 decimals).
    static func tickLabel(_ v: Double) -> String {
        String(format: "%g", (v * 1e10).rounded() / 1e10)
    }

    /// Escape text for XML character data and attribute values.
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }
}

/// The external SVG-to-PNG converters `equicert analyze --plot` uses when one is installed.
public struct SVGConverter: Sendable, Equatable {
    /// The program's name (`rsvg-convert`, `magick` or `convert`).
    public var name: String
    /// Its full path.
    public var executable: String

    /// The first converter found in `searchPath` (a PATH-style list, default the process's PATH), in the order
    /// rsvg-convert, magick, convert; nil if none is installed.
    public static func find(searchPath: String? = nil) -> SVGConverter? {
        let dirs = (searchPath ?? ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for name in ["rsvg-convert", "magick", "convert"] {
            for dir in dirs where !dir.isEmpty {
                let candidate = dir + "/" + name
                if FileManager.default.isExecutableFile(atPath: candidate) {
                    return SVGConverter(name: name, executable: candidate)
                }
            }
        }
        return nil
    }

    /// Render `svg` to `png` (at 2× for rsvg-convert, 192 dpi for ImageMagick), via a temporary file renamed into
    /// place. Throws `ReportsError.conversionFailed` with the tool's message.
    public func convert(svg: String, png: String) throws {
        try ReportWriter.checkWritable(path: png)
        let url = URL(fileURLWithPath: png)
        let temporary = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".tmp-" + UUID().uuidString + ".png"
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        let arguments: [String]
        switch name {
        case "rsvg-convert": arguments = ["--zoom", "2", "--format", "png", "--output", temporary, svg]
        default: arguments = ["-density", "192", svg, temporary]
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw ReportsError.conversionFailed(tool: name, path: png, reason: "\(error)")
        }
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, FileManager.default.fileExists(atPath: temporary) else {
            let text = String(decoding: message, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            throw ReportsError.conversionFailed(tool: name, path: png, reason: "exit \(process.terminationStatus) \(text)")
        }
        guard rename(temporary, png) == 0 else {
            throw ReportsError.fileUnwritable(path: png, reason: String(cString: strerror(errno)))
        }
    }
}
