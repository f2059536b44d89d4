/// Bad input to the `NeuralNet` module: unreadable or corrupt checkpoint files, invalid tensor names.
///
/// Every case carries the file path (or `"(in memory)"`) and the offending field or value, and
/// `description` renders it as one line, suitable for the command line's error message.
/// Programmer errors (wrong shapes passed by code) are `precondition`s, not cases here.
public enum NeuralNetError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened or read (missing, a directory, no permission).
    case fileUnreadable(path: String, reason: String)
    /// The output file could not be written (the temporary file or the final rename failed).
    case fileWriteFailed(path: String, reason: String)

    // MARK: safetensors

    /// The file is shorter than the 8-byte header-length prefix.
    case safetensorsTooShort(path: String, fileSize: Int)
    /// The header length N in the prefix does not fit in the file (8 + N > file size).
    case safetensorsHeaderLength(path: String, headerLength: UInt64, fileSize: Int)
    /// The header is not valid UTF-8 JSON, or not a JSON object.
    case safetensorsHeaderNotJSON(path: String, reason: String)
    /// A tensor entry of the header lacks a field or has a field of the wrong type or value.
    case safetensorsBadEntry(path: String, tensor: String, reason: String)
    /// A tensor's `dtype` is not one of the safetensors dtypes this reader knows.
    case safetensorsUnknownDType(path: String, tensor: String, dtype: String)
    /// `shape.product × dtype size` differs from the byte span `end − begin` of `data_offsets`.
    case safetensorsSizeMismatch(
        path: String, tensor: String, shape: [Int], dtype: String,
        expectedBytes: Int, spanBytes: Int)
    /// `data_offsets` reach outside the data buffer (or `end < begin`).
    case safetensorsOffsetsOutOfBounds(path: String, tensor: String, begin: Int, end: Int, bufferSize: Int)
    /// Two tensors share bytes of the data buffer.
    case safetensorsOverlap(path: String, tensor: String, other: String)
    /// Bytes `begin..<end` of the data buffer belong to no tensor (the spec forbids holes).
    case safetensorsHole(path: String, begin: Int, end: Int)
    /// `__metadata__` is not an object mapping strings to strings.
    case safetensorsBadMetadata(path: String, reason: String)
    /// A tensor name was requested that the file does not hold.
    case safetensorsMissingTensor(path: String, tensor: String)
    /// The tensor's dtype has no meaningful conversion to Float (F8 variants, C64).
    case safetensorsUnsupportedConversion(path: String, tensor: String, dtype: String)
    /// A tensor name given to the writer is empty, reserved (`__metadata__`) or duplicated.
    case safetensorsBadTensorName(path: String, tensor: String, reason: String)
    /// A checkpoint lacks a parameter the model needs.
    case parameterMissing(path: String, tensor: String)
    /// A checkpoint's tensor has another shape than the model's parameter.
    case parameterShapeMismatch(path: String, tensor: String, expected: [Int], found: [Int])
    /// A checkpoint holds a tensor the model does not have (another architecture).
    case parameterUnexpected(path: String, tensor: String)
    /// A checkpoint's parameter holds NaN or ±Inf.
    case parameterNotFinite(path: String, tensor: String)

    public var description: String {
        switch self {
        case let .fileUnreadable(path, reason):
            return "\(path): cannot read file: \(reason)"
        case let .fileWriteFailed(path, reason):
            return "\(path): cannot write file: \(reason)"
        case let .safetensorsTooShort(path, fileSize):
            return "\(path): not a safetensors file: \(fileSize) bytes, shorter than the 8-byte header length"
        case let .safetensorsHeaderLength(path, headerLength, fileSize):
            return "\(path): safetensors header length \(headerLength) exceeds the file (\(fileSize) bytes)"
        case let .safetensorsHeaderNotJSON(path, reason):
            return "\(path): safetensors header is not a JSON object: \(reason)"
        case let .safetensorsBadEntry(path, tensor, reason):
            return "\(path): safetensors tensor '\(tensor)': \(reason)"
        case let .safetensorsUnknownDType(path, tensor, dtype):
            return "\(path): safetensors tensor '\(tensor)' has unknown dtype '\(dtype)'"
        case let .safetensorsSizeMismatch(path, tensor, shape, dtype, expectedBytes, spanBytes):
            return "\(path): safetensors tensor '\(tensor)' of shape \(shape) and dtype \(dtype) needs "
                + "\(expectedBytes) bytes but data_offsets span \(spanBytes)"
        case let .safetensorsOffsetsOutOfBounds(path, tensor, begin, end, bufferSize):
            return "\(path): safetensors tensor '\(tensor)' has data_offsets [\(begin), \(end)] outside "
                + "the data buffer of \(bufferSize) bytes"
        case let .safetensorsOverlap(path, tensor, other):
            return "\(path): safetensors tensors '\(other)' and '\(tensor)' overlap in the data buffer"
        case let .safetensorsHole(path, begin, end):
            return "\(path): safetensors data bytes [\(begin), \(end)) belong to no tensor (holes are not allowed)"
        case let .safetensorsBadMetadata(path, reason):
            return "\(path): safetensors __metadata__ must map strings to strings: \(reason)"
        case let .safetensorsMissingTensor(path, tensor):
            return "\(path): safetensors file has no tensor named '\(tensor)'"
        case let .safetensorsUnsupportedConversion(path, tensor, dtype):
            return "\(path): safetensors tensor '\(tensor)' has dtype \(dtype), which cannot be read as Float"
        case let .safetensorsBadTensorName(path, tensor, reason):
            return "\(path): cannot write tensor named '\(tensor)': \(reason)"
        case let .parameterMissing(path, tensor):
            return "\(path): checkpoint has no parameter '\(tensor)' (another architecture?)"
        case let .parameterShapeMismatch(path, tensor, expected, found):
            return "\(path): parameter '\(tensor)' has shape \(found), the model needs \(expected)"
        case let .parameterUnexpected(path, tensor):
            return "\(path): checkpoint holds '\(tensor)', which this model does not have (another architecture?)"
        case let .parameterNotFinite(path, tensor):
            return "\(path): parameter '\(tensor)' contains NaN or infinite values"
        }
    }
}
