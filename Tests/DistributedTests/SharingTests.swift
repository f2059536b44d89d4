import Foundation
import Testing

@testable import Distributed

@Suite("Sharing helpers: variable-length broadcast, encoded all-gather, a rank's shard")
struct SharingTests {
    @Test(arguments: 1...4) func variableLengthBroadcastGivesEveryRankTheRootsValues(size: Int) throws {
        let results = try ThreadGroup.run(size: size) { comm in
            // Other ranks pass values of another length: they must be ignored.
            let long = try comm.broadcastVariableLength(comm.rank == 0 ? [3, 1, 4, 1, 5] : [9])
            let empty = try comm.broadcastVariableLength(comm.rank == 0 ? [] : [7, 7])
            let fromLast = try comm.broadcastVariableLength([Int64(comm.rank), 42], root: comm.size - 1)
            return [long, empty, fromLast]
        }
        for r in results { #expect(r == [[3, 1, 4, 1, 5], [], [Int64(size - 1), 42]]) }
    }

    struct Row: Codable, Equatable { var index: Int, text: String }

    @Test(arguments: 1...4) func encodedAllGatherConcatenatesInRankOrder(size: Int) throws {
        let results = try ThreadGroup.run(size: size) { comm in
            // Rank r contributes r rows (rank 0 none).
            try comm.allGatherEncoded((0..<comm.rank).map { Row(index: 10 * comm.rank + $0, text: "r\(comm.rank)") })
        }
        let expected = (0..<size).flatMap { r in (0..<r).map { Row(index: 10 * r + $0, text: "r\(r)") } }
        for r in results { #expect(r == expected) }
    }

    @Test(arguments: 1...4) func ranksShardsCoverEveryItemOnce(size: Int) throws {
        let results = try ThreadGroup.run(size: size) { comm in
            Array(ShardPlan.items(10, forRankOf: comm, layout: .strided))
        }
        for (rank, items) in results.enumerated() { #expect(items == Array(stride(from: rank, to: 10, by: size))) }
        #expect(results.flatMap { $0 }.sorted() == Array(0..<10))
    }
}
