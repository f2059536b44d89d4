import Datasets
import Foundation

/// The image data sets the jobs know by name.
public enum ImageDataSource: String, Sendable, CaseIterable {
    case mnist
    case fashionMNIST = "fashion-mnist"

    /// Parse a `--data` value.
    public init(parsing s: String) throws {
        guard let v = ImageDataSource(rawValue: s.lowercased()) else {
            throw CoordinatorError.invalidOption(name: "data", value: s,
                                                 reason: "expected one of \(Self.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = v
    }

    /// Load a split from the first place the data locator finds it.
    public func load(split: ImageDataset.Split, locator: DataLocator = .process) throws -> ImageDataset {
        let dir = try locator.locate(rawValue, requiring: [])
        switch self {
        case .mnist: return try ImageDataset.mnist(directory: dir, split: split)
        case .fashionMNIST: return try ImageDataset.fashionMNIST(directory: dir, split: split)
        }
    }

    /// The directory the data locator reads this data set from (where `load` reads it).
    public func directory(locator: DataLocator = .process) throws -> String {
        try locator.locate(rawValue, requiring: []).path
    }

    /// Normalisation constants (applied inside the model).
    public var normalization: (mean: Float, std: Float) {
        switch self {
        case .mnist: return (0.1307, 0.3081)
        case .fashionMNIST: return (0.2860, 0.3530)
        }
    }
}

import Equilibrium

/// A DEQ checkpoint must match the data set's image shape and class count.
public func checkModelFitsData(_ c: DEQConfiguration, _ data: ImageDataset, source: String) throws {
    guard data.imageShape == [c.inputHeight, c.inputWidth, c.inputChannels], data.classCount == c.classes else {
        throw CoordinatorError.modelDataMismatch(
            model: "deq-s for [\(c.inputHeight), \(c.inputWidth), \(c.inputChannels)] images, \(c.classes) classes",
            data: source, reason: "data has \(data.imageShape) images, \(data.classCount) classes")
    }
}
