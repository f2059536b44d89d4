import Datasets
import Equilibrium
import Foundation
import Reports
import TensorCore

/// `--outputs out.tsv` of `predict` and `evaluate`: the base classifier on each clean image, so a user can diff
/// equicert against their own framework. One row per image:
///
///     idx  label  class  residual  steps  logit_0 … logit_{K−1}
///
/// `class` is the argmax of the logits, `residual` the solver's final relative residual ‖f(z) − z‖/(‖f(z)‖ + 10⁻⁸)
/// and `steps` its iterations for that image. Logits are printed with 9 significant digits (float32 round-trips).
/// The file is written whole and atomically (`AtomicFile`): an interrupted run leaves no partial table.
public enum PerImageOutputs {
    /// The header line.
    public static func header(classes: Int) -> String {
        (["idx", "label", "class", "residual", "steps"] + (0..<classes).map { "logit_\($0)" }).joined(separator: "\t") + "\n"
    }

    /// The rows of `images` (indices into `data`, in that order), classified in batches of `batchSize` with `solver`
    /// from a zero state. x [B, H, W, c] in [0, 1]; logits [B, K].
    public static func table(
        model: some EquilibriumModel, data: ImageDataset, images: [Int], solver: SolverConfig,
        batchSize: Int = 100
    ) -> String {
        var out = header(classes: model.classes)
        var start = 0
        while start < images.count {
            let idx = Array(images[start..<min(images.count, start + batchSize)])
            let (x, labels) = data.batch(idx)
            let (logits, _, stats) = model.classify(x, solver: solver)
            let k = model.classes
            for (row, i) in idx.enumerated() {
                let l = Array(logits.scalars[(row * k)..<((row + 1) * k)])
                let cls = l.indices.max { l[$0] < l[$1] } ?? 0
                var fields = [
                    "\(i)", "\(labels[row])", "\(cls)", String(format: "%.6e", stats.finalRelativeResidual[row]),
                    "\(stats.sampleSteps[row])",
                ]
                fields += l.map { String(format: "%.9g", $0) }
                out += fields.joined(separator: "\t") + "\n"
            }
            start += batchSize
        }
        return out
    }

    /// Create `path`'s directory and check that the file can be written (before any work is done).
    public static func prepare(_ path: String) throws {
        try FileManager.default.createDirectory(
            at: URL(fileURLWithPath: path).deletingLastPathComponent(),
            withIntermediateDirectories: true)
        try ReportWriter.checkWritable(path: path)
    }

    /// Compute the table and write it atomically to `path` (its directory is created).
    public static func write(
        model: some EquilibriumModel, data: ImageDataset, images: [Int], solver: SolverConfig,
        to path: String
    ) throws {
        let text = table(model: model, data: data, images: images, solver: solver)
        try prepare(path)
        try AtomicFile.write(Data(text.utf8), to: path)
    }
}
