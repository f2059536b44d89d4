import Foundation
import Testing
import TensorCore
@testable import Distillation

/// PNG chunks (type, data) after the signature, each CRC checked against an independent bitwise CRC-32.
func parseChunks(_ png: [UInt8]) -> [(type: String, data: [UInt8], crcOK: Bool)]? {
    guard png.count >= 8, Array(png[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else { return nil }
    func be(_ i: Int) -> UInt32 { png[i..<(i + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
    func bitwiseCRC(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c ^= UInt32(b); for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 } }
        return ~c
    }
    var chunks: [(String, [UInt8], Bool)] = []
    var i = 8
    while i + 12 <= png.count {
        let n = Int(be(i))
        guard i + 12 + n <= png.count else { return nil }
        let type = String(decoding: png[(i + 4)..<(i + 8)], as: UTF8.self)
        chunks.append((type, Array(png[(i + 8)..<(i + 8 + n)]), bitwiseCRC(png[(i + 4)..<(i + 8 + n)]) == be(i + 8 + n)))
        i += 12 + n
    }
    return i == png.count ? chunks : nil
}

/// Inflate a zlib stream made only of stored blocks (fails on anything else); checks the Adler-32 trailer.
func inflateStored(_ z: [UInt8]) -> [UInt8]? {
    guard z.count >= 6, (Int(z[0]) << 8 | Int(z[1])) % 31 == 0, z[0] & 0x0F == 8 else { return nil }
    var out: [UInt8] = []
    var i = 2
    while true {
        let header = z[i]
        guard header & 0b110 == 0 else { return nil }
        let len = Int(z[i + 1]) | Int(z[i + 2]) << 8, nlen = Int(z[i + 3]) | Int(z[i + 4]) << 8
        guard len == (~nlen & 0xFFFF) else { return nil }
        out += z[(i + 5)..<(i + 5 + len)]
        i += 5 + len
        if header & 1 == 1 { break }
    }
    let adler = z[i..<(i + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    var a: UInt32 = 1, b: UInt32 = 0
    for x in out { a = (a + UInt32(x)) % 65521; b = (b + a) % 65521 }
    return adler == (b << 16 | a) && i + 4 == z.count ? out : nil
}

@Suite("PNG encoder")
struct PNGEncoderTests {
    @Test("CRC-32 and Adler-32 check values")
    func checksums() {
        #expect(PNGEncoder.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(PNGEncoder.adler32(Array("Wikipedia".utf8)) == 0x11E6_0398)
        let long = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }
        var a: UInt32 = 1, b: UInt32 = 0
        for x in long { a = (a + UInt32(x)) % 65521; b = (b + a) % 65521 }
        #expect(PNGEncoder.adler32(long) == (b << 16 | a))
    }

    @Test("structure: signature, IHDR/IDAT/IEND with valid CRCs, stored blocks (multi-block) inflating to filtered scanlines")
    func structure() throws {
        let (w, h) = (300, 250)  // 250·301 bytes > 65,535: several stored blocks
        let pixels = (0..<(w * h)).map { UInt8(truncatingIfNeeded: $0 % 251) }
        let png = [UInt8](PNGEncoder.encode(width: w, height: h, channels: 1, pixels: pixels))
        let chunks = try #require(parseChunks(png))
        #expect(chunks.map(\.type) == ["IHDR", "IDAT", "IEND"])
        #expect(chunks.allSatisfy { $0.crcOK })
        #expect(chunks[0].data == [0, 0, 1, 44, 0, 0, 0, 250, 8, 0, 0, 0, 0])
        let raw = try #require(inflateStored(chunks[1].data))
        #expect(raw.count == h * (w + 1))
        for y in 0..<h {
            #expect(raw[y * (w + 1)] == 0)
            #expect(Array(raw[(y * (w + 1) + 1)..<((y + 1) * (w + 1))]) == Array(pixels[(y * w)..<((y + 1) * w)]))
        }
    }

    @Test("a distilled set's grid: one row per class, ipc columns, pixels quantised from [0, 1]")
    func grid() throws {
        let images = Tensor(shape: [6, 2, 2, 1], scalars: (0..<24).map { Float($0 % 4) / 3 })
        let set = DistilledSet(images: images, labels: [0, 0, 1, 1, 2, 2], classCount: 3, datasetName: "toy",
                               method: "random", ipc: 2, seed: 0)
        let png = [UInt8](set.pngGrid(padding: 1, scale: 2))
        let chunks = try #require(parseChunks(png))
        let width = 2 * 4 + 3, height = 3 * 4 + 4
        #expect(chunks[0].data.prefix(8) == [0, 0, 0, UInt8(width), 0, 0, 0, UInt8(height)])
        let raw = try #require(inflateStored(chunks[1].data))
        #expect(raw.count == height * (width + 1))
        // tile (class 0, image 0) starts at (1, 1): pixel value 0; its top-right 2×2 block is 1/3 → 85.
        #expect(raw[1 * (width + 1) + 1 + 1] == 0 && raw[1 * (width + 1) + 1 + 3] == 85)
        #expect(raw[0 * (width + 1) + 1] == 128)  // padding
    }
}
