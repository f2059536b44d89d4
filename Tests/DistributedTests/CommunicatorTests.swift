import Foundation
import Testing

@testable import Distributed

/// A lock-protected counter shared by the ranks of a thread group.
final class SharedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func increment() { lock.lock(); value += 1; lock.unlock() }
    var current: Int { lock.lock(); defer { lock.unlock() }; return value }
}

struct TestFailure: Error, Equatable { let rank: Int }

@Suite struct SingleProcessTests {
    @Test func collectivesAreIdentity() throws {
        let comm = SingleProcessCommunicator()
        #expect(comm.rank == 0 && comm.size == 1)
        try comm.barrier()
        var b: [UInt8] = [1, 2, 3]
        try comm.broadcast(&b, root: 0)
        #expect(b == [1, 2, 3])
        var d: [Double] = [1.5, -2]
        try comm.allReduce(&d, op: .sum)
        #expect(d == [1.5, -2])
        #expect(try comm.reduce([Int64(4)], op: .max, to: 0) == [4])
        #expect(try comm.gather([7], root: 0) == [[7]])
        #expect(try comm.allGather([]) == [[]])
    }

    @Test func sendToSelfThenReceive() throws {
        let comm = SingleProcessCommunicator()
        try comm.send([1], to: 0, tag: 5)
        try comm.send([2], to: 0, tag: 6)
        #expect(try comm.tryReceive(from: nil, tag: 7) == nil)
        let m = try comm.receive(from: nil, tag: 6)
        #expect(m.bytes == [2] && m.tag == 6 && m.source == 0)
        #expect(try comm.receive(from: 0, tag: nil).bytes == [1])
        #expect(throws: DistributedError.self) { try comm.receive(from: nil, tag: nil) }
    }
}

@Suite struct ThreadGroupCollectiveTests {
    @Test(arguments: 1...4) func barrierWaitsForEveryRank(size: Int) throws {
        let counter = SharedCounter()
        let seen = try ThreadGroup.run(size: size) { comm in
            if comm.rank == 0 { Thread.sleep(forTimeInterval: 0.02) }
            counter.increment()
            try comm.barrier()
            return counter.current
        }
        #expect(seen == Array(repeating: size, count: size))
    }

    @Test(arguments: 1...4) func broadcastFromEveryRoot(size: Int) throws {
        let results = try ThreadGroup.run(size: size) { comm in
            var got: [[UInt8]] = []
            for root in 0..<comm.size {
                var b: [UInt8] = comm.rank == root ? Array(repeating: UInt8(root), count: root + 2) : [99]
                try comm.broadcast(&b, root: root)
                got.append(b)
            }
            var d: [Double] = comm.rank == 0 ? [0.1, 0.2] : []
            try comm.broadcast(&d, root: 0)
            got.append(ByteCoding.bytes(of: d))
            return got
        }
        let expected = (0..<size).map { Array(repeating: UInt8($0), count: $0 + 2) } + [ByteCoding.bytes(of: [0.1, 0.2])]
        #expect(results == Array(repeating: expected, count: size))
    }

    /// Contributions whose sum depends on the order of additions.
    static func contribution(_ rank: Int) -> [Double] {
        [rank == 0 ? 1e16 : 1.0, rank == 1 ? -1e16 : 0.7 * Double(rank), Double(rank) * 0.1 + 1e-17]
    }

    @Test(arguments: 2...4) func floatingReductionIsRankOrderedAndBitDeterministic(size: Int) throws {
        let contributions = (0..<size).map(Self.contribution)
        let expected = ReductionOp.sum.combine(contributions)
        // From 3 ranks on the test is sensitive to order: the reversed fold gives other bits.
        if size >= 3 {
            let reversed = ReductionOp.sum.combine(contributions.reversed())
            #expect(expected.map(\.bitPattern) != reversed.map(\.bitPattern))
        }
        for trial in 0..<10 {
            let results = try ThreadGroup.run(size: size) { comm in
                // Perturb the arrival order.
                Thread.sleep(forTimeInterval: Double((comm.rank * 7 + trial * 3) % 5) * 0.001)
                var v = Self.contribution(comm.rank)
                try comm.allReduce(&v, op: .sum)
                let reduced = try comm.reduce(Self.contribution(comm.rank), op: .sum, to: comm.size - 1)
                return [v, reduced ?? []]
            }
            for (rank, r) in results.enumerated() {
                #expect(r[0].map(\.bitPattern) == expected.map(\.bitPattern))
                #expect(r[1].map(\.bitPattern) == (rank == size - 1 ? expected.map(\.bitPattern) : []))
            }
        }
    }

    @Test(arguments: 1...4) func integerAndFloatReductions(size: Int) throws {
        let results = try ThreadGroup.run(size: size) { comm in
            let r = comm.rank
            var out: [[Int64]] = []
            for op in ReductionOp.allCases {
                var v: [Int64] = [Int64(r + 1), Int64(-10 * r), Int64.max - Int64(r)]
                try comm.allReduce(&v, op: op)
                out.append(v)
                var f: [Float] = [Float(r) - 1.5]
                try comm.allReduce(&f, op: op)
                out.append([Int64(f[0] * 2)])
            }
            let onRoot = try comm.reduce([Int64(r)], op: .sum, to: 0)
            out.append(onRoot ?? [-1])
            return out
        }
        let n = Int64(size)
        let sum1 = n * (n + 1) / 2, sum2 = -10 * n * (n - 1) / 2
        let sum3 = (0..<n).reduce(Int64(0)) { $0 &+ (Int64.max - $1) }
        let floatSum = Int64((0..<size).map { Float($0) - 1.5 }.reduce(0, +) * 2)
        for (rank, r) in results.enumerated() {
            #expect(r[0] == [sum1, sum2, sum3])
            #expect(r[1] == [floatSum])
            #expect(r[2] == [n, 0, Int64.max])
            #expect(r[3] == [Int64((Float(size - 1) - 1.5) * 2)])
            #expect(r[4] == [1, -10 * (n - 1), Int64.max - (n - 1)])
            #expect(r[5] == [-3])
            #expect(r[6] == (rank == 0 ? [n * (n - 1) / 2] : [-1]))
        }
    }

    @Test(arguments: 1...4) func gatherOfVariableLengthBuffers(size: Int) throws {
        let piece: @Sendable (Int) -> [UInt8] = { q in (0..<(q * 5)).map { UInt8(truncatingIfNeeded: $0 + q) } }
        let results = try ThreadGroup.run(size: size) { comm in
            let root = comm.size - 1
            let g = try comm.gather(piece(comm.rank), root: root)
            #expect((g == nil) == (comm.rank != root))
            let all = try comm.allGather(piece(comm.rank))
            return (g ?? [], all)
        }
        let expected = (0..<size).map(piece)
        for (rank, r) in results.enumerated() {
            #expect(r.0 == (rank == size - 1 ? expected : []))
            #expect(r.1 == expected)
        }
    }
}

@Suite struct ThreadGroupFailureTests {
    @Test func mismatchedCollectivesThrowInsteadOfCorrupting() {
        #expect(throws: DistributedError.self) {
            _ = try ThreadGroup.run(size: 2, timeout: 10) { comm in
                if comm.rank == 0 { try comm.barrier() } else { _ = try comm.allGather([1]) }
            }
        }
        // Same collective, different element counts.
        #expect(throws: DistributedError.self) {
            _ = try ThreadGroup.run(size: 3, timeout: 10) { comm in
                var v = [Double](repeating: 1, count: comm.rank == 2 ? 3 : 2)
                try comm.allReduce(&v, op: .sum)
            }
        }
    }

    @Test func aRankThatThrowsDoesNotHangTheOthers() {
        #expect(throws: TestFailure(rank: 1)) {
            _ = try ThreadGroup.run(size: 3, timeout: 20) { comm in
                if comm.rank == 1 { throw TestFailure(rank: 1) }
                try comm.barrier()
            }
        }
    }

    @Test func abortEndsTheGroupAndNamesTheRank() {
        do {
            _ = try ThreadGroup.run(size: 3, timeout: 20) { comm in
                if comm.rank == 2 { comm.abort(message: "bad input on purpose", code: 7) }
                _ = try comm.receive(from: 2, tag: 1)
            }
            Issue.record("abort did not end the group")
        } catch let e as DistributedError {
            #expect(e == .aborted(rank: 2, message: "bad input on purpose", code: 7))
            #expect(e.description.contains("rank 2"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func receiveFromAFinishedRankThrows() {
        #expect(throws: DistributedError.self) {
            _ = try ThreadGroup.run(size: 2, timeout: 20) { comm in
                if comm.rank == 0 { _ = try comm.receive(from: 1, tag: 3) }
            }
        }
    }

    @Test func blockingCallsTimeOut() {
        let start = Date()
        #expect(throws: DistributedError.self) {
            _ = try ThreadGroup.run(size: 2, timeout: 0.3) { comm in
                if comm.rank == 0 { _ = try comm.receive(from: 1, tag: 3) } else { _ = try comm.receive(from: 0, tag: 3) }
            }
        }
        #expect(Date().timeIntervalSince(start) < 10)
    }
}

@Suite struct PointToPointTests {
    @Test(arguments: 1...4) func ringKeepsOrderPerTagAndFiltersTags(size: Int) throws {
        let results = try ThreadGroup.run(size: size) { comm in
            let next = (comm.rank + 1) % comm.size, prev = (comm.rank + comm.size - 1) % comm.size
            for k in 0..<5 { try comm.send([UInt8(comm.rank), UInt8(k)], to: next, tag: 1) }
            try comm.send([42], to: next, tag: 2)
            // The tag-2 message is received first although it was sent last.
            let t2 = try comm.receive(from: prev, tag: 2)
            var order: [UInt8] = [t2.bytes[0]]
            for _ in 0..<5 {
                let m = try comm.receive(from: nil, tag: 1)
                #expect(m.source == prev && m.bytes[0] == UInt8(prev))
                order.append(m.bytes[1])
            }
            #expect(try comm.tryReceive(from: nil, tag: nil) == nil)
            return order
        }
        #expect(results == Array(repeating: [42, 0, 1, 2, 3, 4], count: size))
    }
}

@Suite struct SelfTestTests {
    @Test(arguments: 1...4) func selfTestPassesOnThreadGroups(size: Int) throws {
        let lines = try ThreadGroup.run(size: size) { comm in try runMPISelfTest(comm: comm) }
        #expect(Set(lines).count == 1)
        #expect(lines[0].hasPrefix("mpi-selftest: OK size=\(size) checks="))
    }

    @Test func selfTestPassesOnSingleProcess() throws {
        let line = try runMPISelfTest(comm: SingleProcessCommunicator())
        #expect(line.hasPrefix("mpi-selftest: OK size=1 checks=") && line.hasSuffix("units=7"))
    }

    @Test func selfTestCatchesAWrongReductionOrder() {
        do {
            _ = try ThreadGroup.run(size: 3) { comm in try runMPISelfTest(comm: ReversedSumCommunicator(comm)) }
            Issue.record("a communicator that sums in reverse rank order passed the self-test")
        } catch let DistributedError.selfTestFailed(failures) {
            #expect(failures.contains { $0.contains("allReduce([Double], sum)") })
            #expect(!failures.contains { $0.contains("Int64") })
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}

/// A faulty communicator: floating-point sums are folded in reverse rank order.
final class ReversedSumCommunicator: Communicator {
    let base: any Communicator
    init(_ base: any Communicator) { self.base = base }
    var rank: Int { base.rank }
    var size: Int { base.size }
    func barrier() throws { try base.barrier() }
    func broadcast(_ bytes: inout [UInt8], root: Int) throws { try base.broadcast(&bytes, root: root) }
    func allReduce(_ values: inout [Int64], op: ReductionOp) throws { try base.allReduce(&values, op: op) }
    func allReduce(_ values: inout [Double], op: ReductionOp) throws {
        let all = try base.allGather(ByteCoding.bytes(of: values))
        values = op.combine(try all.reversed().map { try ByteCoding.values(of: $0, as: Double.self, context: "test") })
    }
    func allReduce(_ values: inout [Float], op: ReductionOp) throws { try base.allReduce(&values, op: op) }
    func reduce(_ values: [Int64], op: ReductionOp, to root: Int) throws -> [Int64]? { try base.reduce(values, op: op, to: root) }
    func reduce(_ values: [Double], op: ReductionOp, to root: Int) throws -> [Double]? { try base.reduce(values, op: op, to: root) }
    func reduce(_ values: [Float], op: ReductionOp, to root: Int) throws -> [Float]? { try base.reduce(values, op: op, to: root) }
    func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]]? { try base.gather(bytes, root: root) }
    func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] { try base.allGather(bytes) }
    func send(_ bytes: [UInt8], to destination: Int, tag: Int) throws { try base.send(bytes, to: destination, tag: tag) }
    func receive(from source: Int?, tag: Int?) throws -> ReceivedMessage { try base.receive(from: source, tag: tag) }
    func tryReceive(from source: Int?, tag: Int?) throws -> ReceivedMessage? { try base.tryReceive(from: source, tag: tag) }
    func abort(message: String, code: Int32) -> Never { base.abort(message: message, code: code) }
}
