// Epoch-wise batching of example indices: deterministic shuffle per (seed, epoch), fixed batch size.
import TensorCore

/// Cuts a pool of example indices into batches, reshuffled each epoch.
///
/// Epoch e's order is the pool permuted by Fisher–Yates with `SplitMix64(seed: seed, stream: e)` (or the pool
/// order when `shuffle` is false); consecutive runs of `batchSize` form batches, and the final shorter run is
/// kept or dropped by `dropLast`. The same (pool, seed, epoch) gives the same batches on every platform.
public struct Batcher: Sendable, Equatable {
    /// The example indices to draw from (e.g. a split's `train`).
    public var pool: [Int]
    /// Examples per batch (the last batch may be shorter unless `dropLast`).
    public var batchSize: Int
    /// Drop the final partial batch.
    public var dropLast: Bool
    /// Reshuffle each epoch; when false, batches follow the pool order.
    public var shuffle: Bool
    /// Seed of the per-epoch shuffle.
    public var seed: UInt64

    /// A batcher over `pool`; precondition `batchSize > 0`.
    public init(pool: [Int], batchSize: Int, dropLast: Bool = false, shuffle: Bool = true, seed: UInt64 = 0) {
        precondition(batchSize > 0, "batchSize must be positive")
        self.pool = pool
        self.batchSize = batchSize
        self.dropLast = dropLast
        self.shuffle = shuffle
        self.seed = seed
    }

    /// A batcher over all of `0..<count`.
    public init(count: Int, batchSize: Int, dropLast: Bool = false, shuffle: Bool = true, seed: UInt64 = 0) {
        self.init(pool: Array(0..<count), batchSize: batchSize, dropLast: dropLast, shuffle: shuffle, seed: seed)
    }

    /// Number of batches per epoch: ⌊n / b⌋ with `dropLast`, else ⌈n / b⌉.
    public var batchesPerEpoch: Int {
        dropLast ? pool.count / batchSize : (pool.count + batchSize - 1) / batchSize
    }

    /// The pool in epoch `epoch`'s order.
    public func order(epoch: Int) -> [Int] {
        guard shuffle else { return pool }
        var rng = SplitMix64(seed: seed, stream: UInt64(bitPattern: Int64(epoch)))
        var p = pool
        rng.shuffle(&p)
        return p
    }

    /// The index batches of epoch `epoch`.
    public func batches(epoch: Int) -> [[Int]] {
        let p = order(epoch: epoch)
        return (0..<batchesPerEpoch).map { k in Array(p[(k * batchSize)..<min(p.count, (k + 1) * batchSize)]) }
    }
}

/// The batches of one epoch of an image data set, gathered lazily: each element is `(images [b, H, W, C], labels)`.
public struct ImageBatches: Sequence, IteratorProtocol, Sendable {
    private let dataset: ImageDataset
    private let indexBatches: [[Int]]
    private var position = 0

    /// Batches of `dataset` in `batcher`'s order for `epoch`.
    public init(dataset: ImageDataset, batcher: Batcher, epoch: Int) {
        self.dataset = dataset
        self.indexBatches = batcher.batches(epoch: epoch)
    }

    /// Number of batches in this epoch.
    public var count: Int { indexBatches.count }

    public mutating func next() -> (images: Tensor, labels: [Int])? {
        guard position < indexBatches.count else { return nil }
        defer { position += 1 }
        return dataset.batch(indexBatches[position])
    }
}

extension ImageDataset {
    /// The batches of `epoch` under `batcher`.
    public func batches(_ batcher: Batcher, epoch: Int) -> ImageBatches {
        ImageBatches(dataset: self, batcher: batcher, epoch: epoch)
    }
}
