// Static partitions of n items over ranks, and the `--shard i/n` command-line form.
import Foundation

/// A static partition of items `0..<itemCount` into `shardCount` shards.
///
/// - `contiguous`: shard s holds one block `[s·q + min(s, r), (s+1)·q + min(s+1, r))` with `q = n / k`,
///   `r = n % k`: the first `r` shards hold one item more. Good for locality and for file ranges.
/// - `strided`: shard s holds items `s, s + k, s + 2k, …`. Good when cost grows with the index.
///
/// Either way every item belongs to exactly one shard and shard sizes differ by at most one.
public struct ShardPlan: Sendable, Equatable {
    /// How items are assigned to shards.
    public enum Layout: String, Sendable, CaseIterable {
        case contiguous, strided
    }

    /// Number of items, indexed `0..<itemCount`.
    public let itemCount: Int
    /// Number of shards (≥ 1), indexed `0..<shardCount`.
    public let shardCount: Int
    /// The assignment rule.
    public let layout: Layout

    public init(itemCount: Int, shardCount: Int, layout: Layout = .contiguous) {
        precondition(itemCount >= 0, "itemCount \(itemCount) must be ≥ 0")
        precondition(shardCount >= 1, "shardCount \(shardCount) must be ≥ 1")
        self.itemCount = itemCount
        self.shardCount = shardCount
        self.layout = layout
    }

    /// The plan that gives one shard to each rank of a communicator.
    public init(itemCount: Int, over comm: any Communicator, layout: Layout = .contiguous) {
        self.init(itemCount: itemCount, shardCount: comm.size, layout: layout)
    }

    /// The items of shard `s`, in increasing order.
    public func items(inShard s: Int) -> StrideTo<Int> {
        precondition(s >= 0 && s < shardCount, "shard \(s) is outside 0..<\(shardCount)")
        switch layout {
        case .contiguous:
            let q = itemCount / shardCount, r = itemCount % shardCount
            return stride(from: s * q + Swift.min(s, r), to: (s + 1) * q + Swift.min(s + 1, r), by: 1)
        case .strided:
            return stride(from: s, to: itemCount, by: shardCount)
        }
    }

    /// Number of items in shard `s` (⌈n/k⌉ or ⌊n/k⌋).
    public func itemCount(inShard s: Int) -> Int {
        precondition(s >= 0 && s < shardCount, "shard \(s) is outside 0..<\(shardCount)")
        let q = itemCount / shardCount, r = itemCount % shardCount
        return q + (s < r ? 1 : 0)
    }

    /// The shard that holds item `i`.
    public func shard(ofItem i: Int) -> Int {
        precondition(i >= 0 && i < itemCount, "item \(i) is outside 0..<\(itemCount)")
        switch layout {
        case .contiguous:
            let q = itemCount / shardCount, r = itemCount % shardCount
            // The first r shards hold q + 1 items each, covering [0, r·(q+1)).
            let big = r * (q + 1)
            return i < big ? i / (q + 1) : r + (i - big) / q
        case .strided:
            return i % shardCount
        }
    }
}

/// A shard selector `i/n`: shard `index` (numbered from 0) of `count` shards, as in `--shard 1/4`.
public struct ShardSpec: Sendable, Equatable, CustomStringConvertible {
    /// The selected shard, `0..<count`.
    public let index: Int
    /// The number of shards (≥ 1).
    public let count: Int

    public init(index: Int, count: Int) {
        precondition(count >= 1 && index >= 0 && index < count, "shard \(index)/\(count) is out of range")
        self.index = index
        self.count = count
    }

    /// Parses `"i/n"` (spaces around the numbers allowed) with `n ≥ 1` and `0 ≤ i < n`.
    /// Throws `DistributedError.invalidShardSpec` naming the text and what is wrong.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw DistributedError.invalidShardSpec(text: text, reason: "expected the form i/n, e.g. 0/4")
        }
        let iText = parts[0].trimmingCharacters(in: .whitespaces)
        let nText = parts[1].trimmingCharacters(in: .whitespaces)
        guard let i = Int(iText) else {
            throw DistributedError.invalidShardSpec(text: text, reason: "shard index '\(iText)' is not an integer")
        }
        guard let n = Int(nText) else {
            throw DistributedError.invalidShardSpec(text: text, reason: "shard count '\(nText)' is not an integer")
        }
        guard n >= 1 else {
            throw DistributedError.invalidShardSpec(text: text, reason: "shard count \(n) must be ≥ 1")
        }
        guard i >= 0 && i < n else {
            throw DistributedError.invalidShardSpec(
                text: text, reason: "shard index \(i) must be in 0..<\(n) (shards are numbered from 0)")
        }
        self.init(index: i, count: n)
    }

    /// `"i/n"`.
    public var description: String { "\(index)/\(count)" }

    /// The items this shard selects out of `itemCount` under `layout`.
    public func items(of itemCount: Int, layout: ShardPlan.Layout = .contiguous) -> StrideTo<Int> {
        ShardPlan(itemCount: itemCount, shardCount: count, layout: layout).items(inShard: index)
    }
}
