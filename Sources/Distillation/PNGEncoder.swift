import CZlib
import Foundation

/// A PNG encoder (8-bit grayscale or RGB, no interlace), compressed with the system zlib.
///
/// Each scanline gets the adaptive filter (PNG spec §9: None, Sub, Up, Average, Paeth) with the smallest sum of
/// |filtered byte as Int8| — the heuristic libpng uses — and the filtered scanlines are one zlib stream
/// (RFC 1950, `compress2` at level 9) in one IDAT chunk. Chunks carry the CRC-32 (ISO 3309, reflected polynomial
/// 0xEDB88320) of type + data (PNG spec, ISO/IEC 15948). A 10 × 10 grid of 2×-scaled digits is ≈ 50 KB
/// instead of the 327 KB of stored blocks.
public enum PNGEncoder {
    /// The PNG bytes of an image of `width` × `height` pixels with `channels` 1 (gray) or 3 (RGB);
    /// `pixels` holds height·width·channels bytes, row-major, channels interleaved.
    public static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8]) -> Data {
        precondition(width >= 1 && height >= 1 && (channels == 1 || channels == 3), "bad PNG geometry")
        precondition(pixels.count == width * height * channels, "pixel count \(pixels.count)")
        var out = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var ihdr = [UInt8]()
        appendBigEndian(UInt32(width), to: &ihdr)
        appendBigEndian(UInt32(height), to: &ihdr)
        ihdr += [8, channels == 1 ? 0 : 2, 0, 0, 0]
        appendChunk("IHDR", ihdr, to: &out)
        appendChunk(
            "IDAT",
            zlibCompress(
                filteredScanlines(
                    width: width, height: height, channels: channels,
                    pixels: pixels)), to: &out)
        appendChunk("IEND", [], to: &out)
        return out
    }

    /// The image as PNG scanlines, each a filter-type byte followed by width·channels filtered bytes; the filter of
    /// a row is the one of the five minimising Σ |Int8(filtered byte)|. Bytes left of the row and the row above
    /// the first are 0 (PNG spec §9.2); `bpp` = channels (8-bit samples).
    public static func filteredScanlines(width: Int, height: Int, channels: Int, pixels: [UInt8]) -> [UInt8] {
        let stride = width * channels, bpp = channels
        var out = [UInt8]()
        out.reserveCapacity(height * (stride + 1))
        var candidate = [[UInt8]](repeating: [UInt8](repeating: 0, count: stride), count: 5)
        for y in 0..<height {
            let row = y * stride, above = row - stride
            for i in 0..<stride {
                let x = pixels[row + i]
                let a = i >= bpp ? pixels[row + i - bpp] : 0
                let b = y > 0 ? pixels[above + i] : 0
                let c = (i >= bpp && y > 0) ? pixels[above + i - bpp] : 0
                candidate[0][i] = x
                candidate[1][i] = x &- a
                candidate[2][i] = x &- b
                candidate[3][i] = x &- UInt8((Int(a) + Int(b)) / 2)
                candidate[4][i] = x &- paeth(a, b, c)
            }
            var best = 0, bestCost = Int.max
            for f in 0..<5 {
                let cost = candidate[f].reduce(0) { $0 + abs(Int(Int8(bitPattern: $1))) }
                if cost < bestCost { best = f; bestCost = cost }
            }
            out.append(UInt8(best))
            out += candidate[best]
        }
        return out
    }

    /// The Paeth predictor (PNG spec §9.4): whichever of left a, above b, upper-left c is closest to a + b − c
    /// (ties: a, then b).
    static func paeth(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> UInt8 {
        let p = Int(a) + Int(b) - Int(c)
        let pa = abs(p - Int(a)), pb = abs(p - Int(b)), pc = abs(p - Int(c))
        if pa <= pb && pa <= pc { return a }
        return pb <= pc ? b : c
    }

    /// A zlib stream (RFC 1950) of `bytes`: zlib's `compress2` at level 9.
    public static func zlibCompress(_ bytes: [UInt8]) -> [UInt8] {
        var capacity = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(capacity))
        let status = out.withUnsafeMutableBufferPointer { dst in
            bytes.withUnsafeBufferPointer { src in
                compress2(dst.baseAddress, &capacity, src.baseAddress, uLong(bytes.count), 9)
            }
        }
        // compressBound is an upper bound by construction: any other status is a broken zlib or out of memory.
        precondition(status == Z_OK, "zlib compress2 failed with status \(status)")
        return Array(out.prefix(Int(capacity)))
    }

    /// CRC-32 (reflected, polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF); crc32("123456789") = 0xCBF43926.
    public static func crc32<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func appendBigEndian(_ v: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    static func appendChunk(_ type: String, _ data: [UInt8], to out: inout Data) {
        var chunk = [UInt8]()
        appendBigEndian(UInt32(data.count), to: &chunk)
        let typed = Array(type.utf8) + data
        chunk += typed
        appendBigEndian(crc32(typed), to: &chunk)
        out.append(contentsOf: chunk)
    }
}

extension DistilledSet {
    /// A grid of the set's images: one row per class (classes in order), `ipc`-many columns (the most images
    /// any class has, wrapped at `maxColumns`), `padding` pixels of mid-gray between tiles, each pixel
    /// scaled by `scale` (nearest neighbour). Pixels are clamped to [0, 1] and rounded to 8 bits.
    public func pngGrid(padding: Int = 1, scale: Int = 1, maxColumns: Int = 50) -> Data {
        precondition(padding >= 0 && scale >= 1 && maxColumns >= 1, "bad grid geometry")
        let (h, w, c) = (images.shape[1], images.shape[2], images.shape[3])
        precondition(c == 1 || c == 3, "PNG grid needs 1 or 3 channels, got \(c)")
        var perClass = [[Int]](repeating: [], count: classCount)
        for (i, l) in labels.enumerated() { perClass[l].append(i) }
        let widest = max(1, perClass.map(\.count).max() ?? 1)
        let columns = min(widest, maxColumns)
        let rowsPerClass = (widest + columns - 1) / columns
        let rows = classCount * rowsPerClass
        let tileH = h * scale, tileW = w * scale
        let gridW = columns * tileW + (columns + 1) * padding
        let gridH = rows * tileH + (rows + 1) * padding
        var pixels = [UInt8](repeating: 128, count: gridW * gridH * c)
        images.withUnsafeBufferPointer { src in
            for (k, members) in perClass.enumerated() {
                for (j, i) in members.enumerated() {
                    let row = k * rowsPerClass + j / columns, col = j % columns
                    let y0 = padding + row * (tileH + padding), x0 = padding + col * (tileW + padding)
                    for y in 0..<tileH {
                        for x in 0..<tileW {
                            for ch in 0..<c {
                                let v = src[((i * h + y / scale) * w + x / scale) * c + ch]
                                let q = UInt8((min(1, max(0, v.isFinite ? v : 0)) * 255).rounded())
                                pixels[((y0 + y) * gridW + x0 + x) * c + ch] = q
                            }
                        }
                    }
                }
            }
        }
        return PNGEncoder.encode(width: gridW, height: gridH, channels: c, pixels: pixels)
    }

    /// Write `pngGrid(padding:scale:maxColumns:)` to `url` atomically (temporary file + rename).
    public func writePNGGrid(to url: URL, padding: Int = 1, scale: Int = 1, maxColumns: Int = 50) throws {
        try pngGrid(padding: padding, scale: scale, maxColumns: maxColumns).write(to: url, options: .atomic)
    }
}
