import Datasets
import Distributed
import Foundation
import NeuralNet
import Pruning
import Transformers

/// Reading text-classifier checkpoints written by `TextTrainingJob` and evaluating them on their own split.
public enum TextCheckpoint {
    /// A loaded checkpoint: the model and what the job recorded about its training data.
    public struct Loaded {
        public var model: TextClassifier
        public var dataSet: TextDataSource
        public var maxLength: Int
        /// Documents kept by `--limit` when training (0 = all); evaluation applies the same subset.
        public var limit: Int
        /// The split file (beside the checkpoint).
        public var splitPath: String
        public var metadata: [String: String]
    }

    /// Whether `path` is a safetensors file whose metadata says `minilm-classifier` (false when unreadable).
    public static func isTextClassifier(_ path: String) -> Bool {
        guard let f = try? SafeTensorsFile(contentsOf: URL(fileURLWithPath: path)) else { return false }
        return f.metadata[TextClassifier.architectureKey] == TextClassifier.architecture
    }

    /// Load model and provenance; errors name the file and the tensor or metadata field.
    public static func load(_ path: String) throws -> Loaded {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CoordinatorError.checkpoint(path: path, reason: "no such file")
        }
        let file = try SafeTensorsFile(contentsOf: URL(fileURLWithPath: path))
        let model = try TextClassifier.load(from: file, ignoringPrefixes: ["optimizer.", MaskSet.tensorPrefix])
        try checkMasks(file, model.parameters, path: path)
        let m = file.metadata
        guard let data = m["equicert.data"].flatMap(TextDataSource.init(rawValue:)) else {
            throw CoordinatorError.checkpoint(path: path, reason: "metadata 'equicert.data' is missing or not a text data set")
        }
        guard let maxLength = m["equicert.max-length"].flatMap({ Int($0) }), maxLength >= 2 else {
            throw CoordinatorError.checkpoint(path: path, reason: "metadata 'equicert.max-length' is missing or < 2")
        }
        let splitName = m["equicert.split-file"] ?? URL(fileURLWithPath: TextTrainingJob.splitPath(forCheckpoint: path)).lastPathComponent
        let splitPath = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(splitName).path
        return Loaded(
            model: model, dataSet: data, maxLength: maxLength, limit: Int(m["equicert.text.limit"] ?? "") ?? 0,
            splitPath: splitPath, metadata: m)
    }

    /// Which part of the split to evaluate.
    public enum Part: String, Sendable, CaseIterable { case train, validation, test }

    /// The result of `evaluate`.
    public struct Evaluation: Sendable {
        public var dataSet: TextDataSource
        public var part: Part
        public var result: TextEvaluation.Result
        /// Texts of the part cut to `maxLength` tokens.
        public var truncated: Int
        public var maxLength: Int
    }

    /// Accuracy of the checkpoint on a part of its own split (the split file must match the data's labels).
    /// `maxLength` overrides the training length (default: the checkpoint's).
    public static func evaluate(
        _ loaded: Loaded, part: Part = .test, dataDirectory: String? = nil, maxLength: Int? = nil,
        batchSize: Int = 64, comm: any Communicator = SingleProcessCommunicator()
    ) throws -> Evaluation {
        guard batchSize >= 1 else { throw CoordinatorError.invalidOption(name: "batch", value: "\(batchSize)", reason: "must be ≥ 1") }
        let (texts, labels) = try examples(loaded, part: part, dataDirectory: dataDirectory)
        let n = maxLength ?? loaded.maxLength
        let enc = try loaded.model.encode(texts, maxLength: n)
        let r = try TextEvaluation.run(
            loaded.model, encoded: enc, labels: labels,
            indices: Array(0..<texts.count), batchSize: batchSize, comm: comm)
        return Evaluation(dataSet: loaded.dataSet, part: part, result: r, truncated: enc.filter(\.truncated).count, maxLength: n)
    }
}
