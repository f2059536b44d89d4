import Datasets
import Equilibrium
import TensorCore

/// Gaussian noise for a batch of images in which image i's noise depends only on (seed, purpose, i, copy),
/// never on the batch it shares: x_i + σ·ε, ε from the counter-based stream keyed by (seed, purpose, i, copy).
public enum NoisyCopies {
    public static func make(
        _ clean: Tensor, imageIndices: [Int], sigma: Float, seed: UInt64, purpose: UInt32,
        copy: UInt32 = 0
    ) -> Tensor {
        precondition(clean.shape[0] == imageIndices.count, "one index per image")
        var x = clean
        let per = x.count / imageIndices.count
        x.withUnsafeMutableBufferPointer { p in
            for (j, i) in imageIndices.enumerated() {
                var s = RandomStream(seed: seed, purpose, UInt32(i), copy)
                s.fillGaussian(UnsafeMutableBufferPointer(rebasing: p[(j * per)..<((j + 1) * per)]), mean: 0, std: sigma)
            }
        }
        x += clean
        return x
    }
}
