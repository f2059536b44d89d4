import Distributed
import NeuralNet
import TrainingLoop

/// Data-parallel training over a `Communicator`: every rank computes the gradient of its contiguous slice of
/// the global batch, and one all-reduce of the flat gradient buffer makes the batch gradient on every rank.
///
/// With the batch of B split as [B·r/R, B·(r+1)/R) on rank r of R, and each rank's loss the mean over its slice,
/// the batch-mean gradient is Σ_r (|slice_r| / B) · ∇L_r: each rank scales its gradient by its share, then
/// the sum. One rank: nothing is scaled or reduced, so single-process results are exactly the serial ones.
public enum DataParallel {
    /// This rank's slice of a batch of `batch`.
    public static func slice(batch: Int, rank: Int, size: Int) -> Range<Int> {
        (batch * rank / size)..<(batch * (rank + 1) / size)
    }

    /// Zero the gradients, run `compute` on this rank's slice (it accumulates into `parameters.gradients` and
    /// returns statistics already weighted so that their sum over ranks is the batch's), then reduce both.
    /// A rank with an empty slice contributes zeros. Returns the summed statistics (`statCount` of them).
    public static func step(
        _ comm: any Communicator, batch: Int, parameters: ParameterStore, statCount: Int,
        _ compute: (_ slice: Range<Int>) throws -> [Double]
    ) throws -> [Double] {
        let range = slice(batch: batch, rank: comm.rank, size: comm.size)
        parameters.zeroGradients()
        var stats = [Double](repeating: 0, count: statCount)
        if !range.isEmpty {
            stats = try compute(range)
            precondition(stats.count == statCount, "data-parallel step returned \(stats.count) statistics, expected \(statCount)")
            if comm.size > 1 {
                let share = Float(range.count) / Float(batch)
                parameters.gradients.withUnsafeMutableBufferPointer { g in for i in 0..<g.count { g[i] *= share } }
            }
        }
        if comm.size > 1 {
            try comm.allReduce(&parameters.gradients, op: .sum)
            try comm.allReduce(&stats, op: .sum)
        }
        return stats
    }

    /// `step` over `comm` as the gradient reduction of a `TrainingLoop`.
    public static func reduction(over comm: any Communicator) -> TrainingLoop.GradientReduction {
        { batch, parameters, statCount, compute in
            try step(comm, batch: batch, parameters: parameters, statCount: statCount, compute)
        }
    }
}
