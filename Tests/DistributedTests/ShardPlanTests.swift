import Testing

@testable import Distributed

@Suite struct ShardPlanTests {
    @Test(arguments: ShardPlan.Layout.allCases) func partitionsEveryItemExactlyOnce(layout: ShardPlan.Layout) {
        for n in [0, 1, 2, 7, 10, 33] {
            for k in 1...5 {
                let plan = ShardPlan(itemCount: n, shardCount: k, layout: layout)
                var owner = Array(repeating: -1, count: n)
                for s in 0..<k {
                    let items = Array(plan.items(inShard: s))
                    #expect(items.count == plan.itemCount(inShard: s))
                    #expect(items == items.sorted())
                    #expect(items.count == n / k || items.count == n / k + 1)
                    for i in items {
                        #expect(owner[i] == -1)
                        owner[i] = s
                        #expect(plan.shard(ofItem: i) == s)
                    }
                }
                #expect(!owner.contains(-1))
            }
        }
    }

    @Test func layoutsAreAsDocumented() {
        let c = ShardPlan(itemCount: 10, shardCount: 3, layout: .contiguous)
        #expect((0..<3).map { Array(c.items(inShard: $0)) } == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]])
        let s = ShardPlan(itemCount: 10, shardCount: 3, layout: .strided)
        #expect((0..<3).map { Array(s.items(inShard: $0)) } == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]])
    }

    @Test func parsesShardSpecs() throws {
        let spec = try ShardSpec(parsing: "1/4")
        #expect(spec == ShardSpec(index: 1, count: 4) && spec.description == "1/4")
        #expect(try ShardSpec(parsing: " 0 / 1 ") == ShardSpec(index: 0, count: 1))
        #expect(Array(try ShardSpec(parsing: "2/3").items(of: 10)) == [7, 8, 9])
    }

    @Test(arguments: ["", "3", "1/", "/4", "a/4", "1/b", "1/4/2", "-1/4", "4/4", "0/0", "1.5/4"])
    func rejectsBadShardSpecs(text: String) {
        do {
            _ = try ShardSpec(parsing: text)
            Issue.record("'\(text)' parsed")
        } catch let e as DistributedError {
            guard case .invalidShardSpec(let t, _) = e else { Issue.record("wrong error \(e)"); return }
            #expect(t == text)
            #expect(e.description.hasPrefix("invalid shard '\(text)': "))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func outOfRangeIndexMessageExplainsNumbering() {
        #expect(
            throws: DistributedError.invalidShardSpec(
                text: "4/4", reason: "shard index 4 must be in 0..<4 (shards are numbered from 0)")
        ) {
            try ShardSpec(parsing: "4/4")
        }
    }
}
