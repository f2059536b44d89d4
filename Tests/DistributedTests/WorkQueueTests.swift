import Foundation
import Testing

@testable import Distributed

@Suite struct WorkQueueTests {
    static func result(_ u: Int) -> [UInt8] {
        ByteCoding.bytes(of: [Int64(u), Int64(u * 31 + 7)]) + Array(repeating: UInt8(u % 256), count: u % 4)
    }

    @Test(arguments: 1...4) func resultsArriveInUnitOrder(size: Int) throws {
        let units = 23
        let outcomes = try ThreadGroup.run(size: size) { comm in
            var delivered: [Int] = []
            var payloads: [[UInt8]] = []
            let report = try WorkQueue(unitCount: units).run(
                on: comm,
                compute: { u in
                    // Uneven unit costs shuffle completion order.
                    Thread.sleep(forTimeInterval: Double((u * 7) % 3) * 0.001)
                    return Self.result(u)
                },
                deliver: { u, b in
                    delivered.append(u)
                    payloads.append(b)
                })
            return (delivered, payloads, report)
        }
        let root = outcomes[0]
        #expect(root.0 == Array(0..<units))
        #expect(root.1 == (0..<units).map(Self.result))
        let stats = try #require(root.2.ranks)
        let unitRanks = try #require(root.2.unitRanks)
        #expect(stats.map(\.rank) == Array(0..<size))
        #expect(stats.map(\.unitsDone).reduce(0, +) == units)
        for r in 0..<size {
            #expect(unitRanks.filter { $0 == r }.count == stats[r].unitsDone)
            #expect(stats[r] == outcomes[r].2.local)
        }
        for worker in outcomes.dropFirst() {
            #expect(worker.0.isEmpty && worker.2.ranks == nil && worker.2.unitRanks == nil)
        }
    }

    @Test func aSlowRankReceivesFewerUnits() throws {
        let units = 60
        let reports = try ThreadGroup.run(size: 4) { comm in
            try WorkQueue(unitCount: units).collect(on: comm) { u in
                Thread.sleep(forTimeInterval: comm.rank == 2 ? 0.03 : 0.001)
                return Self.result(u)
            }
        }
        #expect(reports[0].results == (0..<units).map(Self.result))
        let stats = try #require(reports[0].report.ranks)
        let slow = stats[2].unitsDone
        for r in [0, 1, 3] { #expect(slow < stats[r].unitsDone, "slow rank did \(slow), rank \(r) did \(stats[r].unitsDone)") }
        #expect(slow <= units / 4)
        #expect(stats[2].busySeconds >= Double(slow) * 0.03 * 0.9)
    }

    @Test func aSlowRootDoesNotStallWorkers() throws {
        let units = 40
        let reports = try ThreadGroup.run(size: 3) { comm in
            try WorkQueue(unitCount: units).collect(on: comm) { u in
                Thread.sleep(forTimeInterval: comm.rank == 0 ? 0.03 : 0.001)
                return Self.result(u)
            }
        }
        #expect(reports[0].results == (0..<units).map(Self.result))
        let stats = try #require(reports[0].report.ranks)
        #expect(stats[0].unitsDone < stats[1].unitsDone && stats[0].unitsDone < stats[2].unitsDone)
    }

    @Test func rootCanOnlyServe() throws {
        let reports = try ThreadGroup.run(size: 3) { comm in
            try WorkQueue(unitCount: 10, rootComputes: false).collect(on: comm) { u in Self.result(u) }
        }
        let stats = try #require(reports[0].report.ranks)
        #expect(stats[0].unitsDone == 0 && stats[1].unitsDone + stats[2].unitsDone == 10)
        #expect(reports[0].results == (0..<10).map(Self.result))
    }

    @Test(arguments: [0, 1, 2]) func fewerUnitsThanRanks(units: Int) throws {
        let reports = try ThreadGroup.run(size: 4) { comm in
            try WorkQueue(unitCount: units, root: 1, prefetch: 1).collect(on: comm) { u in Self.result(u) }
        }
        #expect(reports[1].results == (0..<units).map(Self.result))
        #expect(reports[0].results == nil)
    }

    @Test("a rank silent for the stall timeout while holding units ends the queue on the root, naming the rank and its units")
    func stalledRankIsNamed() throws {
        let errors = try ThreadGroup.run(size: 2, timeout: 30) { comm -> String in
            var queue = WorkQueue(unitCount: 6)
            queue.stallTimeout = 0.3
            do {
                _ = try queue.collect(on: comm) { u in
                    if comm.rank == 1 { Thread.sleep(forTimeInterval: 2) }  // "stopped" for far longer than 0.3 s
                    return Self.result(u)
                }
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(errors[0].hasPrefix("rank 1 stalled: nothing from it for 0 s holding units 0, 1"), "root: \(errors[0])")
        #expect(errors[1].contains("cancelled"), "the stalled rank, once it resumes, finds the queue cancelled: \(errors[1])")
        // A rank slower than the timeout between messages but never silent that long is not a stall.
        let slow = try ThreadGroup.run(size: 2, timeout: 30) { comm -> [[UInt8]]? in
            var queue = WorkQueue(unitCount: 6)
            queue.stallTimeout = 1
            return try queue.collect(on: comm) { u in
                if comm.rank == 1 { Thread.sleep(forTimeInterval: 0.2) }
                return Self.result(u)
            }.results
        }
        #expect(slow[0] == (0..<6).map(Self.result))
    }

    @Test func singleProcessComputesEverything() throws {
        let (results, report) = try WorkQueue(unitCount: 5).collect(on: SingleProcessCommunicator()) { u in Self.result(u) }
        #expect(results == (0..<5).map(Self.result))
        #expect(report.local.unitsDone == 5 && report.ranks?.count == 1)
    }

    @Test func aFailingWorkerCancelsTheQueue() {
        do {
            _ = try ThreadGroup.run(size: 3, timeout: 20) { comm in
                try WorkQueue(unitCount: 30).collect(on: comm) { u in
                    if comm.rank == 2 { throw TestFailure(rank: 2) }
                    Thread.sleep(forTimeInterval: 0.001)
                    return Self.result(u)
                }
            }
            Issue.record("the queue did not fail")
        } catch let e as TestFailure {
            #expect(e == TestFailure(rank: 2))
        } catch {
            Issue.record("unexpected error \(error)")
        }
        // The root's error names the failing rank.
        let rootError = try? ThreadGroup.run(size: 2, timeout: 20) { comm -> String in
            do {
                _ = try WorkQueue(unitCount: 10).collect(on: comm) { u in
                    if comm.rank == 1 { throw TestFailure(rank: 1) }
                    Thread.sleep(forTimeInterval: 0.002)
                    return Self.result(u)
                }
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(rootError?[0].contains("work unit failed on rank 1") == true)
        #expect(rootError?[1].contains("TestFailure") == true)
    }

    @Test func aFailingDeliverCancelsTheWorkers() {
        do {
            _ = try ThreadGroup.run(size: 3, timeout: 20) { comm in
                try WorkQueue(unitCount: 30).run(on: comm, compute: { u in Self.result(u) }) { u, _ in
                    if u == 5 { throw TestFailure(rank: 0) }
                }
            }
            Issue.record("the queue did not fail")
        } catch let e as TestFailure {
            #expect(e == TestFailure(rank: 0))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}
