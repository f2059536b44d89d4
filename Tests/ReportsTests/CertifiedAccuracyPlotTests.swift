import Foundation
import Testing

@testable import Reports

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Collects elements, path data and text of an XML document.
private final class SVGCollector: NSObject, XMLParserDelegate {
    var elements: [String] = []
    var paths: [String] = []
    var texts: [String] = []
    private var text = ""
    func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        elements.append(name)
        if name == "path", let d = attributes["d"] { paths.append(d) }
        text = ""
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "text" { texts.append(text) }
    }
}

private func parseSVG(_ svg: String) -> (ok: Bool, collector: SVGCollector) {
    let parser = XMLParser(data: Data(svg.utf8))
    let collector = SVGCollector()
    parser.delegate = collector
    return (parser.parse(), collector)
}

private func row(_ i: Int, correct: Bool, radius: Double) -> CertificationRow {
    CertificationRow(index: i, label: 1, prediction: correct ? 1 : 2, radius: radius, seconds: 1)
}

@Test("The SVG is well-formed XML with one path per report, axis labels, ticks and escaped legend names")
func svgWellFormed() {
    let a = [row(0, correct: true, radius: 0.5), row(1, correct: false, radius: 0.3)]
    let b = [row(0, correct: true, radius: 1.23), row(1, correct: true, radius: 0), row(2, correct: false, radius: 0)]
    let plot = CertifiedAccuracyPlot(
        series: [.init(name: "A & <B>", rows: a), .init(name: "\"srs\" 'n'", rows: b)],
        title: "σ = 0.25")
    let (ok, svg) = parseSVG(plot.svg())
    #expect(ok)
    #expect(svg.elements.first == "svg")
    #expect(svg.paths.count == 2)
    #expect(svg.texts.contains("A & <B>") && svg.texts.contains("\"srs\" 'n'"))
    #expect(svg.texts.contains("radius (L2)") && svg.texts.contains("certified accuracy") && svg.texts.contains("σ = 0.25"))
    // y ticks 0, 0.2, …, 1 and x ticks up to 1.25 (the axis covers the largest radius, 1.23, in steps of 0.25).
    for t in ["0", "0.2", "0.4", "0.6", "0.8", "1", "0.25", "0.5", "0.75", "1.25"] {
        #expect(svg.texts.contains(t), "tick \(t)")
    }
}

@Test("A step curve's path: flat at the accuracy up to each radius, then down, then along zero")
func svgPathGeometry() {
    // Two rows, one correct with radius 0.5: acc = 0.5 on [0, 0.5], 0 after. Axis [0, 1] (ticks of 0.2).
    // Plot area: x from 68 to 696 (628 wide), y from 24 (acc 1) to 394 (acc 0).
    let plot = CertifiedAccuracyPlot(series: [.init(name: "a", rows: [row(0, correct: true, radius: 0.5), row(1, correct: false, radius: 2)])])
    let (ok, svg) = parseSVG(plot.svg())
    #expect(ok)
    #expect(svg.paths == ["M68.00,209.00 H382.00 V394.00 H696.00"])
}

@Test("Nice axis steps and tick labels")
func niceAxis() {
    #expect(CertifiedAccuracyPlot.niceAxis(1.0) == (0.2, 1.0))
    #expect(CertifiedAccuracyPlot.niceAxis(1.23) == (0.25, 1.25))
    #expect(CertifiedAccuracyPlot.niceAxis(4.0) == (1.0, 4.0))
    let small = CertifiedAccuracyPlot.niceAxis(0.3)
    #expect(small.step == 0.05 && abs(small.end - 0.3) < 1e-12)
    #expect(CertifiedAccuracyPlot.tickLabel(0.1 + 0.2) == "0.3")
    #expect(CertifiedAccuracyPlot.tickLabel(2) == "2")
}

@Test("The converter lookup follows PATH in the order rsvg-convert, magick, convert, and reports a failing tool")
func converterLookup() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    #expect(SVGConverter.find(searchPath: "") == nil)
    #expect(SVGConverter.find(searchPath: dir.path) == nil)
    let fake = try dir.write("convert", "#!/bin/sh\necho 'no delegate for svg' >&2\nexit 3\n")
    chmod(fake, 0o755)
    let found = try #require(SVGConverter.find(searchPath: "/nonexistent:" + dir.path))
    #expect(found == SVGConverter(name: "convert", executable: fake))
    let svg = dir.file("p.svg")
    try CertifiedAccuracyPlot(series: []).writeSVG(to: svg)
    #expect(
        reportsError { try found.convert(svg: svg, png: dir.file("p.png")) }
            == .conversionFailed(tool: "convert", path: dir.file("p.png"), reason: "exit 3 no delegate for svg"))
    #expect(!FileManager.default.fileExists(atPath: dir.file("p.png")))
    _ = try dir.write("rsvg-convert", "#!/bin/sh\nexit 0\n")
    chmod(dir.file("rsvg-convert"), 0o755)
    #expect(SVGConverter.find(searchPath: dir.path)?.name == "rsvg-convert")
}

@Test("rsvg-convert renders the SVG to a PNG", .enabled(if: SVGConverter.find()?.name == "rsvg-convert"))
func rsvgRenders() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let svg = dir.file("c.svg"), png = dir.file("c.png")
    try CertifiedAccuracyPlot(series: [.init(name: "a", rows: [row(0, correct: true, radius: 0.5)])]).writeSVG(to: svg)
    try #require(SVGConverter.find()).convert(svg: svg, png: png)
    let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
    #expect(bytes.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["c.png", "c.svg"])
}
