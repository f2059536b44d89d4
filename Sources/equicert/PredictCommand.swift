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
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Predict with the smoothed classifier (abstaining when the top class is not significant).")
    @OptionGroup var o: SmoothingOptions
    @Option(help: "Also write the base classifier's class, solver residual and logits of every selected clean image to this TSV (DEQs).")
    var outputs: String?

    func run() throws {
        try runDistributed(o.distributed, threads: o.threads, workers: o.inProcessWorkers(), parking: o.parkingChoice) { comm, parking in
            var settings = try o.runSettings(forPredict: true)
            settings.parking = parking
            settings.outputs = outputs
            guard let s = try PredictReportJob(settings).run(on: comm) else { return }
            printFlushed(
                String(
                    format: "predicted %d images (%d correct, %d abstained) in %.1f s on %d rank(s) → %@",
                    s.predicted, s.correct, s.abstained, s.wallSeconds, s.worldSize, o.out))
            if let outputs { printFlushed("per-image base-classifier outputs → \(outputs)") }
        }
    }
}
