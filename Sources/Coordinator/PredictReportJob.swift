import Certification
import Distributed
import Foundation
import Reports

/// `predict` as a whole run: PREDICT (Cohen et al.) of the smoothed classifier on the selected images, on every
/// rank; the root writes rows in Cohen's predict format `idx label predict correct time` (predict −1: abstained),
/// one write per row as each image finishes. With `outputs`, the root then writes the base classifier's per-image
/// class, residual and logits of the same images (`PerImageOutputs`, solved with the configuration's base solver).
public struct PredictReportJob {
    public let settings: SmoothingRunSettings

    public init(_ settings: SmoothingRunSettings) { self.settings = settings }

    /// What the root prints at the end.
    public struct Summary: Sendable {
        public var predicted: Int, correct: Int, abstained: Int
        public var wallSeconds: Double, worldSize: Int
    }

    /// The header line of a predict report.
    public static let header = "idx\tlabel\tpredict\tcorrect\ttime\n"

    /// One row: the image, its label, the prediction (−1: abstained), 1 when correct, the compute time as Python's
    /// `timedelta` prints it.
    public static func row(index: Int, label: Int, prediction: Int, seconds: Double) -> String {
        let time = PythonFormat.timedelta(microseconds: PythonFormat.microseconds(seconds: seconds))
        return "\(index)\t\(label)\t\(prediction)\t\(prediction == label ? 1 : 0)\t\(time)\n"
    }

    /// Runs on every rank; returns the summary on the root, nil elsewhere.
    public func run(on comm: any Communicator) throws -> Summary? {
        let started = Date()
        let s = settings
        let (target, smoothing, dataset) = try s.load()
        if let outputs = s.outputs, target.deq == nil {
            throw CoordinatorError.invalidOption(
                name: "outputs", value: outputs, reason: "\(s.model) is not a DEQ: per-image outputs are for DEQ-S and MDEQ")
        }
        if let outputs = s.outputs, comm.rank == 0 { try PerImageOutputs.prepare(outputs) }
        var handle: FileHandle? = nil, lock: OutputLock? = nil
        if comm.rank == 0 {
            try? FileManager.default.createDirectory(
                at: URL(fileURLWithPath: s.output).deletingLastPathComponent(),
                withIntermediateDirectories: true)
            try ReportWriter.checkWritable(path: s.output)
            guard !s.resume else {
                throw CoordinatorError.invalidOption(
                    name: "resume", value: s.output, reason: "predict cannot continue a report; use a new --out or --force")
            }
            lock = try s.guardOutputs([s.output] + (s.outputs.map { [$0] } ?? []))  // the report and the per-image outputs
            guard FileManager.default.createFile(atPath: s.output, contents: Data(Self.header.utf8)),
                let h = FileHandle(forWritingAtPath: s.output)
            else {
                throw CoordinatorError.output(path: s.output, reason: "cannot create the file")
            }
            h.seekToEndOfFile()
            handle = h
        }
        // A failed run leaves no lock file, and no report when it failed before its first row.
        var succeeded = false, done = 0
        defer {
            if !succeeded, comm.rank == 0 {
                try? handle?.close()
                if done == 0 { unlink(s.output) }
                lock?.release()
            }
        }
        let images = s.images(count: dataset.count)
        var job = CertifyJob(smoothing: smoothing, data: dataset, images: images, kind: .predict)
        job.stallTimeout = s.stallTimeout
        var correct = 0, abstained = 0
        let bar = ProgressBar(label: "predict", total: images.count, unit: "img", enabled: comm.rank == 0 && s.showProgress)
        _ = try job.run(on: comm) { r in
            let p = r.certificate.prediction
            handle!.write(Data(Self.row(index: r.index, label: r.label, prediction: p, seconds: r.seconds).utf8))  // one write(2) per row
            done += 1
            if p < 0 { abstained += 1 } else if p == r.label { correct += 1 }
            bar.update(done, "correct \(correct), abstained \(abstained)")
        }
        guard comm.rank == 0 else { succeeded = true; return nil }
        try handle!.close()
        if let outputs = s.outputs, let deq = target.deq {
            try PerImageOutputs.write(model: deq.model, data: dataset, images: images, solver: s.configuration.baseSolver, to: outputs)
        }
        lock?.release()
        succeeded = true
        return Summary(
            predicted: done, correct: correct, abstained: abstained, wallSeconds: Date().timeIntervalSince(started),
            worldSize: comm.size)
    }
}
