import Foundation

/// A minimal PNG encoder (8-bit grayscale or RGB, no interlace) with no zlib dependency.
///
/// The image data is a zlib stream of *stored* (uncompressed) deflate blocks (RFC 1950/1951): header
/// 0x78 0x01, blocks of ≤ 65,535 bytes each `[BFINAL|BTYPE=00] LEN NLEN data`, then the Adler-32 of the
/// raw bytes. Each scanline starts with filter byte 0 (None). Chunks carry the CRC-32 (ISO 3309, reflected
/// polynomial 0xEDB88320) of type + data (PNG spec, ISO/IEC 15948). Files are larger than compressed PNGs
/// (about H·(W·C+1) bytes) but decode everywhere.
public enum PNGEncoder {
    /// The PNG bytes of an image of `width` × `height` pixels with `channels` 1 (gray) or 3 (RGB);
    /// `pixels` holds height·width·channels bytes, row-major, channels interleaved.
    public static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8]) -> Data {
        precondition(width >= 1 && height >= 1 && (channels == 1 || channels == 3), "bad PNG geometry")
        precondition(pixels.count == width * height * channels, "pixel count \(pixels.count)")
        var raw = [UInt8]()
        raw.reserveCapacity(height * (width * channels + 1))
        let stride = width * channels
        for y in 0..<height {
            raw.append(0)
            raw.append(contentsOf: pixels[(y * stride)..<((y + 1) * stride)])
        }
        var out = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var ihdr = [UInt8]()
        appendBigEndian(UInt32(width), to: &ihdr)
        appendBigEndian(UInt32(height), to: &ihdr)
        ihdr += [8, channels == 1 ? 0 : 2, 0, 0, 0]
        appendChunk("IHDR", ihdr, to: &out)
        appendChunk("IDAT", zlibStored(raw), to: &out)
        appendChunk("IEND", [], to: &out)
        return out
    }

    /// A zlib stream of stored deflate blocks holding `bytes` (RFC 1950 header, RFC 1951 BTYPE 00, Adler-32).
    public static func zlibStored(_ bytes: [UInt8]) -> [UInt8] {
        var z: [UInt8] = [0x78, 0x01]  // CM 8, CINFO 7; FCHECK so that 0x7801 % 31 == 0, FLEVEL 0
        var offset = 0
        repeat {
            let n = min(65_535, bytes.count - offset)
            let final = offset + n == bytes.count
            z.append(final ? 1 : 0)
            z += [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            z.append(contentsOf: bytes[offset..<(offset + n)])
            offset += n
        } while offset < bytes.count
        appendBigEndian(adler32(bytes), to: &z)
        return z
    }

    /// CRC-32 (reflected, polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF); crc32("123456789") = 0xCBF43926.
    public static func crc32<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    /// Adler-32 (RFC 1950): (B << 16) | A with A = 1 + Σ bytes, B = Σ A, both mod 65521; adler32("Wikipedia") = 0x11E60398.
    public static func adler32<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
        var a: UInt32 = 1, b: UInt32 = 0
        var pending = 0
        for x in bytes {
            a += UInt32(x); b += a
            pending += 1
            if pending == 5552 { a %= 65_521; b %= 65_521; pending = 0 }  // no UInt32 overflow before reducing
        }
        return ((b % 65_521) << 16) | (a % 65_521)
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
                    for y in 0..<tileH { for x in 0..<tileW { for ch in 0..<c {
                        let v = src[((i * h + y / scale) * w + x / scale) * c + ch]
                        let q = UInt8((min(1, max(0, v.isFinite ? v : 0)) * 255).rounded())
                        pixels[((y0 + y) * gridW + x0 + x) * c + ch] = q
                    } } }
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
