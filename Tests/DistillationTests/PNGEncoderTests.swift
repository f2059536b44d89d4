import CZlib
import Datasets
import Foundation
import TensorCore
import Testing

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

/// The scanlines of a PNG's IDAT data: zlib-inflated (the system zlib's `uncompress`, independent of the encoder's
/// deflate), then unfiltered by the PNG spec's reconstruction functions (§9.2–9.4) written out here once more.
/// nil for a bad zlib stream or an unknown filter type.
func decodeScanlines(_ z: [UInt8], width: Int, height: Int, channels: Int) -> [UInt8]? {
    let stride = width * channels
    var length = uLong(height * (stride + 1))
    var raw = [UInt8](repeating: 0, count: Int(length) + 1)
    let status = raw.withUnsafeMutableBufferPointer { dst in
        z.withUnsafeBufferPointer { uncompress(dst.baseAddress, &length, $0.baseAddress, uLong(z.count)) }
    }
    guard status == Z_OK, Int(length) == height * (stride + 1) else { return nil }
    var pixels = [UInt8](repeating: 0, count: height * stride)
    for y in 0..<height {
        let filter = raw[y * (stride + 1)]
        for i in 0..<stride {
            let f = Int(raw[y * (stride + 1) + 1 + i])
            let a = i >= channels ? Int(pixels[y * stride + i - channels]) : 0
            let b = y > 0 ? Int(pixels[(y - 1) * stride + i]) : 0
            let c = i >= channels && y > 0 ? Int(pixels[(y - 1) * stride + i - channels]) : 0
            let predictor: Int
            switch filter {
            case 0: predictor = 0
            case 1: predictor = a
            case 2: predictor = b
            case 3: predictor = (a + b) >> 1
            case 4:
                let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
            default: return nil
            }
            pixels[y * stride + i] = UInt8((f + predictor) & 0xFF)
        }
    }
    return pixels
}

@Suite("PNG encoder")
struct PNGEncoderTests {
    @Test("CRC-32 check value")
    func checksums() {
        #expect(PNGEncoder.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    @Test(
        "structure: signature, IHDR/IDAT/IEND with valid CRCs; the IDAT inflates and unfilters to the pixels",
        arguments: [1, 3])
    func structure(channels: Int) throws {
        let (w, h) = (300, 250)
        // A mix that makes every filter win somewhere: a horizontal ramp, a vertical ramp, noise, a flat band.
        var rng = SplitMix64(seed: 7)
        let pixels = (0..<(w * h * channels)).map { k -> UInt8 in
            let x = (k / channels) % w, y = k / (channels * w)
            switch y / 63 {
            case 0: return UInt8(truncatingIfNeeded: x * 3 + k % channels)
            case 1: return UInt8(truncatingIfNeeded: y * 5)
            case 2: return UInt8(truncatingIfNeeded: rng.next())
            default: return 200
            }
        }
        let png = [UInt8](PNGEncoder.encode(width: w, height: h, channels: channels, pixels: pixels))
        let chunks = try #require(parseChunks(png))
        #expect(chunks.map(\.type) == ["IHDR", "IDAT", "IEND"])
        #expect(chunks.allSatisfy { $0.crcOK })
        #expect(chunks[0].data == [0, 0, 1, 44, 0, 0, 0, 250, 8, channels == 1 ? 0 : 2, 0, 0, 0])
        #expect(try #require(decodeScanlines(chunks[1].data, width: w, height: h, channels: channels)) == pixels)
        let filters = Set(
            PNGEncoder.filteredScanlines(width: w, height: h, channels: channels, pixels: pixels)
                .enumerated().filter { $0.offset % (w * channels + 1) == 0 }.map(\.element))
        #expect(filters.count >= 3, "filters used: \(filters.sorted())")
        #expect(png.count < w * h * channels / 2, "\(png.count) bytes: the smooth three quarters must compress")
    }

    @Test("the Paeth predictor picks the neighbour closest to a + b − c, ties to a then b")
    func paeth() {
        #expect(PNGEncoder.paeth(10, 20, 10) == 20)  // p = 20: b exact
        #expect(PNGEncoder.paeth(20, 10, 10) == 20)  // p = 20: a exact
        #expect(PNGEncoder.paeth(10, 10, 10) == 10)  // all tie: a
        #expect(PNGEncoder.paeth(0, 255, 255) == 0)  // p = 0
        #expect(PNGEncoder.paeth(100, 50, 200) == 50)  // p = −50: pa 150, pb 100, pc 250
    }

    @Test("a distilled set's grid: one row per class, ipc columns, pixels quantised from [0, 1]")
    func grid() throws {
        let images = Tensor(shape: [6, 2, 2, 1], scalars: (0..<24).map { Float($0 % 4) / 3 })
        let set = DistilledSet(
            images: images, labels: [0, 0, 1, 1, 2, 2], classCount: 3, datasetName: "toy",
            method: "random", ipc: 2, seed: 0)
        let png = [UInt8](set.pngGrid(padding: 1, scale: 2))
        let chunks = try #require(parseChunks(png))
        let width = 2 * 4 + 3, height = 3 * 4 + 4
        #expect(chunks[0].data.prefix(8) == [0, 0, 0, UInt8(width), 0, 0, 0, UInt8(height)])
        let pixels = try #require(decodeScanlines(chunks[1].data, width: width, height: height, channels: 1))
        // tile (class 0, image 0) starts at (1, 1): pixel value 0; its top-right 2×2 block is 1/3 → 85.
        #expect(pixels[1 * width + 1] == 0 && pixels[1 * width + 3] == 85)
        #expect(pixels[0] == 128)  // padding
    }
}
