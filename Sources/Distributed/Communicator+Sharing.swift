import Foundation

extension Communicator {
    /// The root's `values` (any length) on every rank: the length is broadcast first, then the values (skipped
    /// when empty). Other ranks' `values` are ignored.
    public func broadcastVariableLength(_ values: [Int64], root: Int = 0) throws -> [Int64] {
        var count: [Int64] = [Int64(values.count)]
        try broadcast(&count, root: root)
        var all = rank == root ? values : Array(repeating: 0, count: Int(count[0]))
        if count[0] > 0 { try broadcast(&all, root: root) }
        return all
    }

    /// Every rank's `mine`, JSON-encoded, concatenated in rank order on every rank.
    public func allGatherEncoded<T: Codable>(_ mine: [T]) throws -> [T] {
        let all = try allGather(Array(try JSONEncoder().encode(mine)))
        return try all.flatMap { try JSONDecoder().decode([T].self, from: Data($0)) }
    }
}

extension ShardPlan {
    /// The items of this rank's shard when `itemCount` items are spread over the ranks of `comm`.
    public static func items(_ itemCount: Int, forRankOf comm: any Communicator, layout: Layout) -> StrideTo<Int> {
        ShardPlan(itemCount: itemCount, over: comm, layout: layout).items(inShard: comm.rank)
    }
}
