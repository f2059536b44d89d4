import Datasets
import Equilibrium
import Foundation
import TensorCore

/// The premise of serialized smoothing, measured: residual against f-evaluations for each solver, started from zero
/// and warm-started from the fixed point of ANOTHER noisy copy of the same image (docs/models.md §1, docs/certificate.md §2).
///
/// For image i: copy A = x + σε_A is solved by every solver (tolerance 0, so the full trace is recorded) from
/// z = 0 and from z*_B, where z*_B is copy B = x + σε_B solved tightly (Anderson, 60 steps). Noise comes from the
/// counter-based stream keyed by (seed, "SOLV", image, copy).
public enum SolverStudy {
    public struct Curve: Sendable {
        public var solver: SolverKind
        public var warm: Bool
        /// Evaluation counts and mean relative residual over the images after that many evaluations.
        public var evaluations: [Int]
        public var meanRelativeResidual: [Double]
        /// Per image: evaluations until the relative residual first fell below the threshold (nil: never).
        public var evaluationsToThreshold: [Int?]
    }

    public static func run(
        model: some EquilibriumModel, data: ImageDataset, images: Int, sigma: Float, maxSteps: Int,
        threshold: Float, seed: UInt64
    ) -> [Curve] {
        let idx = Array(0..<min(images, data.count))
        let (clean, _) = data.batch(idx)
        func noisy(_ copy: UInt32) -> Tensor {
            NoisyCopies.make(clean, imageIndices: idx, sigma: sigma, seed: seed, purpose: 0x534F_4C56, copy: copy)  // "SOLV"
        }
        let (injA, _) = model.inject(noisy(0)), (injB, _) = model.inject(noisy(1))
        let tight = SolverConfig(kind: .anderson, maxSteps: 60, tolerance: 1e-5, stopMode: .relative)
        let zB = solveFixedPoint({ model.map($0, injB) }, initial: model.zeroState(batch: idx.count), config: tight).z
        var curves: [Curve] = []
        for kind in SolverKind.allCases {
            for warm in [false, true] {
                let config = SolverConfig(kind: kind, maxSteps: maxSteps, tolerance: 0, stopMode: .relative, recordTrace: true)
                let z0 = warm ? zB : model.zeroState(batch: idx.count)
                let (_, stats) = solveFixedPoint({ model.map($0, injA) }, initial: z0, config: config)
                let trace = stats.trace!
                let mean = trace.relativeResidual.map { row in row.reduce(0.0) { $0 + Double($1) } / Double(row.count) }
                let toThreshold: [Int?] = idx.indices.map { i in
                    trace.relativeResidual.indices.first { trace.relativeResidual[$0][i] < threshold }.map { trace.evaluations[$0] }
                }
                curves.append(
                    Curve(
                        solver: kind, warm: warm, evaluations: trace.evaluations, meanRelativeResidual: mean,
                        evaluationsToThreshold: toThreshold))
            }
        }
        return curves
    }

    /// A Markdown table: mean relative residual at selected evaluation counts, and evaluations to the threshold.
    public static func table(_ curves: [Curve], threshold: Float, at columns: [Int]) -> String {
        var s =
            "| solver | start | " + columns.map { "\($0) evals" }.joined(separator: " | ")
            + " | evals to rel. residual \(threshold) (mean; reached) |\n"
        s += "|---|---|" + String(repeating: "---|", count: columns.count) + "---|\n"
        for c in curves {
            let cells = columns.map { n -> String in
                guard let i = c.evaluations.lastIndex(where: { $0 <= n }) else { return "–" }
                return String(format: "%.2e", c.meanRelativeResidual[i])
            }
            let reached = c.evaluationsToThreshold.compactMap { $0 }
            let mean = reached.isEmpty ? "never" : String(format: "%.1f", Double(reached.reduce(0, +)) / Double(reached.count))
            s +=
                "| \(c.solver.rawValue) | \(c.warm ? "warm (other noisy copy's z*)" : "zero") | " + cells.joined(separator: " | ")
                + " | \(mean); \(reached.count)/\(c.evaluationsToThreshold.count) |\n"
        }
        return s
    }
}
