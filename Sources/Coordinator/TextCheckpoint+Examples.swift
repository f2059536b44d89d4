import Datasets
import Foundation

extension TextCheckpoint {
    /// The texts and labels of a part of the checkpoint's own split (the split file must match the data).
    public static func examples(_ loaded: Loaded, part: Part, dataDirectory: String? = nil) throws -> (texts: [String], labels: [Int]) {
        let data = try loaded.dataSet.load(directory: dataDirectory, limit: loaded.limit)
        guard data.classNames == loaded.model.classNames else {
            throw CoordinatorError.modelDataMismatch(
                model: "classes \(loaded.model.classNames)", data: loaded.dataSet.rawValue,
                reason: "data has classes \(data.classNames)")
        }
        let split = try StratifiedSplit.read(from: loaded.splitPath)
        try split.check(labels: data.labels, path: loaded.splitPath)
        let indices = part == .train ? split.train : part == .validation ? split.validation : split.test
        return (indices.map { data.texts[$0] }, indices.map { data.labels[$0] })
    }
}
