// IDX files (the MNIST / Fashion-MNIST container): big-endian magic, big-endian UInt32 dimensions, uint8 payload.
//
// Layout: bytes 0–1 are zero, byte 2 is the element type (0x08 = uint8), byte 3 the rank r;
// then r big-endian UInt32 extents; then prod(extents) elements, row-major, nothing after.

/// An IDX array of unsigned bytes: its extents (outermost first) and its row-major payload.
public struct IDXArray: Sendable, Equatable {
    /// Extent of each axis, e.g. `[60000, 28, 28]` for MNIST training images.
    public var dimensions: [Int]
    /// The elements, row-major; `bytes.count == dimensions.reduce(1, *)`.
    public var bytes: [UInt8]
}

/// Parser for uint8 IDX files (raw or gzip), with strict validation.
public enum IDXReader {
    /// Magic number of a uint8 rank-3 IDX file (images `[N, rows, cols]`).
    public static let imagesMagic: UInt32 = 0x0000_0803
    /// Magic number of a uint8 rank-1 IDX file (labels `[N]`).
    public static let labelsMagic: UInt32 = 0x0000_0801

    /// Reads an image file: magic `0x00000803`, dimensions `[N, rows, cols]`, all positive.
    public static func readImages(path: String) throws -> IDXArray {
        try read(path: path, magic: imagesMagic)
    }

    /// Reads a label file: magic `0x00000801`, dimensions `[N]`, N positive.
    public static func readLabels(path: String) throws -> IDXArray {
        try read(path: path, magic: labelsMagic)
    }

    /// Reads a uint8 IDX file whose magic must equal `magic` (rank = low byte of `magic`).
    ///
    /// Guarantee: returns only when the magic matches, every extent is positive, and the payload has
    /// exactly `prod(extents)` bytes; otherwise throws a `DatasetsError` naming `path`.
    public static func read(path: String, magic: UInt32) throws -> IDXArray {
        try parse(try FileBytes.read(path: path), path: path, magic: magic)
    }

    /// Parses IDX bytes already in memory (`path` is used only in error messages).
    public static func parse(_ bytes: [UInt8], path: String, magic expected: UInt32) throws -> IDXArray {
        guard bytes.count >= 4 else {
            throw DatasetsError.badHeader(path: path, reason: "file has \(bytes.count) bytes, shorter than the 4-byte magic")
        }
        let magic = bigEndianUInt32(bytes, at: 0)
        guard magic == expected else {
            throw DatasetsError.badMagic(path: path, expected: expected, found: magic)
        }
        let rank = Int(magic & 0xff)
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else {
            throw DatasetsError.badHeader(
                path: path, reason: "file has \(bytes.count) bytes, shorter than the \(headerSize)-byte header")
        }
        var dimensions: [Int] = []
        var total = 1
        for axis in 0..<rank {
            let extent = Int(bigEndianUInt32(bytes, at: 4 + 4 * axis))
            guard extent > 0 else {
                throw DatasetsError.badHeader(path: path, reason: "dimension \(axis) is 0")
            }
            let (product, overflow) = total.multipliedReportingOverflow(by: extent)
            guard !overflow else {
                throw DatasetsError.badHeader(path: path, reason: "dimensions \(dimensions + [extent]) overflow")
            }
            total = product
            dimensions.append(extent)
        }
        let payload = bytes.count - headerSize
        guard payload == total else {
            throw DatasetsError.sizeMismatch(path: path, expectedBytes: total, actualBytes: payload)
        }
        return IDXArray(dimensions: dimensions, bytes: Array(bytes[headerSize...]))
    }

    private static func bigEndianUInt32(_ b: [UInt8], at i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }
}
