/// An element type of the safetensors format, spelled as in the header (`"F32"`, `"BF16"`, …).
///
/// Only the byte-sized dtypes are listed; the sub-byte ones (F4, F6) are reported as unknown.
/// `byteSize` is the storage size of one element; all multi-byte types are little-endian in the file.
public enum SafeTensorsDType: String, Sendable, CaseIterable, Hashable {
    case bool = "BOOL"
    case uint8 = "U8"
    case int8 = "I8"
    case float8E5M2 = "F8_E5M2"
    case float8E4M3 = "F8_E4M3"
    case float8E8M0 = "F8_E8M0"
    case int16 = "I16"
    case uint16 = "U16"
    case float16 = "F16"
    case bfloat16 = "BF16"
    case int32 = "I32"
    case uint32 = "U32"
    case float32 = "F32"
    case float64 = "F64"
    case int64 = "I64"
    case uint64 = "U64"
    case complex64 = "C64"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .bool, .uint8, .int8, .float8E5M2, .float8E4M3, .float8E8M0: return 1
        case .int16, .uint16, .float16, .bfloat16: return 2
        case .int32, .uint32, .float32: return 4
        case .float64, .int64, .uint64, .complex64: return 8
        }
    }

    /// True when `SafeTensorsFile.float32(_:)` can convert this dtype to Float
    /// (every dtype except the F8 variants and C64).
    public var convertsToFloat: Bool {
        switch self {
        case .float8E5M2, .float8E4M3, .float8E8M0, .complex64: return false
        default: return true
        }
    }
}

// MARK: - Element conversion (little-endian bytes → Float)

// n: number of elements; src: first byte of the tensor in the file; dst: n Floats.
// Sources may be unaligned (the header length need not be a multiple of 8), so every multi-byte
// element is read with loadUnaligned and byte-order corrected with `littleEndian:`.

/// Convert IEEE half-precision bits to Float exactly (subnormals, ±0, ±∞ and NaN payloads included).
@inlinable
func floatFromHalfBits(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0x1F {  // ∞ or NaN: keep the payload in the top mantissa bits
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    if exponent == 0 {
        // ±0 or subnormal: value = mantissa × 2^-24, exact in Float.
        let magnitude = Float(mantissa) * 0x1p-24
        return sign == 0 ? magnitude : -magnitude
    }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
}

extension SafeTensorsDType {
    /// Convert `n` elements at `src` (little-endian, possibly unaligned) to Float into `dst`.
    /// Integers are rounded to the nearest Float; F64 is rounded to nearest; BOOL gives 0 or 1.
    func convert(_ src: UnsafeRawPointer, count n: Int, into dst: UnsafeMutablePointer<Float>) {
        switch self {
        case .float32:
            #if _endian(little)
                UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: n * 4)
            #else
                for i in 0..<n {
                    dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
            #endif
        case .float16:
            for i in 0..<n {
                dst[i] = floatFromHalfBits(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        case .bfloat16:
            for i in 0..<n {
                let b = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                dst[i] = Float(bitPattern: UInt32(b) << 16)
            }
        case .float64:
            for i in 0..<n {
                dst[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
            }
        case .int64:
            for i in 0..<n {
                dst[i] = Float(Int64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
            }
        case .uint64:
            for i in 0..<n {
                dst[i] = Float(UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))
            }
        case .int32:
            for i in 0..<n {
                dst[i] = Float(Int32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
            }
        case .uint32:
            for i in 0..<n {
                dst[i] = Float(UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        case .int16:
            for i in 0..<n {
                dst[i] = Float(Int16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)))
            }
        case .uint16:
            for i in 0..<n {
                dst[i] = Float(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        case .int8:
            for i in 0..<n { dst[i] = Float(Int8(bitPattern: src.load(fromByteOffset: i, as: UInt8.self))) }
        case .uint8:
            for i in 0..<n { dst[i] = Float(src.load(fromByteOffset: i, as: UInt8.self)) }
        case .bool:
            for i in 0..<n { dst[i] = src.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
        case .float8E5M2, .float8E4M3, .float8E8M0, .complex64:
            preconditionFailure("dtype \(rawValue) has no Float conversion; check convertsToFloat first")
        }
    }
}
