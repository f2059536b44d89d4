import ArgumentParser
import Certification
import Coordinator
import Distributed
import Equilibrium
import Foundation
import Reports

/// `equicert predict`: PREDICT (Cohen et al.) of a DEQ's smoothed classifier — n samples (serialized chains in
/// srs mode), abstain unless the binomial test of the top two counts has p-value ≤ α. Rows in Cohen's predict
/// format `idx label predict correct time`, one write per row as each image finishes.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "predict",
        abstract: "Predict with the smoothed classifier (abstaining when the top class is not significant).")
    @OptionGroup var o: SmoothingOptions

    func run() throws {
        try runDistributed(o.distributed, threads: o.threads, workers: try o.inProcessWorkers()) { try predict($0) }
    }

    func predict(_ comm: any Communicator) throws {
        let started = Date()
        let config = try o.smoothingConfiguration(forPredict: true)
        let modelPath = try o.model ?? EmbeddedModels.defaultCertificationModel()
        let target = try SmoothingTarget(checkpoint: modelPath, data: o.data, attention: try o.attention.settings(),
                                         calibrationCount: o.attention.calibrationExamples)
        switch target.model {
        case .deq(let m):
            try predict(comm, smoothing: try Smoothing(model: EquilibriumClassifier(m), configuration: config), target: target, started: started)
        case .vit(let c):
            try predict(comm, smoothing: try Smoothing(model: c, configuration: config), target: target, started: started)
        }
    }

    func predict<C: SmoothableClassifier>(_ comm: any Communicator, smoothing: Smoothing<C>, target: SmoothingTarget, started: Date) throws {
        let dataset = o.split == "test" ? target.test : try target.source.load(split: .train)
        var handle: FileHandle? = nil
        if comm.rank == 0 {
            try? FileManager.default.createDirectory(at: URL(fileURLWithPath: o.out).deletingLastPathComponent(),
                                                     withIntermediateDirectories: true)
            try ReportWriter.checkWritable(path: o.out)
            guard FileManager.default.createFile(atPath: o.out, contents: Data("idx\tlabel\tpredict\tcorrect\ttime\n".utf8)),
                  let h = FileHandle(forWritingAtPath: o.out) else {
                throw CoordinatorError.output(path: o.out, reason: "cannot create the file")
            }
            h.seekToEndOfFile()
            handle = h
        }
        let spec = try o.shard.map { try ShardSpec(parsing: $0) }
        let images = CertifyImages.selectImages(count: dataset.count, skip: o.skip, max: o.max, shard: spec?.index ?? 0,
                                             shards: spec?.count ?? 1)
        let job = CertifyJob(smoothing: smoothing, data: dataset, images: images, kind: .predict)
        var correct = 0, abstained = 0, done = 0
        let bar = ProgressBar(label: "predict", total: images.count, unit: "img", enabled: comm.rank == 0 && !o.quiet)
        _ = try job.run(on: comm) { r in
            let p = r.certificate.prediction
            let line = "\(r.index)\t\(r.label)\t\(p)\t\(p == r.label ? 1 : 0)\t\(PythonFormat.timedelta(microseconds: PythonFormat.microseconds(seconds: r.seconds)))\n"
            handle!.write(Data(line.utf8))   // one write(2) per row
            done += 1
            if p < 0 { abstained += 1 } else if p == r.label { correct += 1 }
            bar.update(done, "correct \(correct), abstained \(abstained)")
        }
        guard comm.rank == 0 else { return }
        try handle!.close()
        printFlushed(String(format: "predicted %d images (%d correct, %d abstained) in %.1f s on %d rank(s) → %@",
                            done, correct, abstained, Date().timeIntervalSince(started), comm.size, o.out))
    }
}
