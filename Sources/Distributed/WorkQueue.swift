// Dynamic scheduling of work units over a communicator: the root hands out unit indices on demand,
// so a slow rank simply receives fewer units.
//
// Protocol (all messages on two tags, `tag` = worker → root, `tag + 1` = root → worker):
//   root → worker: Int64 u ≥ 0 "compute unit u";  −1 "no more units";  −2 "cancelled".
//   worker → root: [1][Int64 u][result bytes] a result (it also frees one prefetch slot);
//                  [2][Int64 units][Double busy][Double wait] final statistics;
//                  [3][utf-8 text] the worker's compute failed.
// The root starts by giving each worker `prefetch` units round-robin, then one more per returned result;
// a worker therefore always has up to `prefetch − 1` queued units while its last result travels back.
import Foundation

/// Per-rank statistics of one work-queue run.
public struct WorkQueueRankStatistics: Sendable, Equatable, Codable {
    /// The rank these statistics describe.
    public var rank: Int
    /// Units this rank computed.
    public var unitsDone: Int
    /// Wall seconds spent inside `compute`.
    public var busySeconds: Double
    /// Wall seconds spent blocked waiting for messages.
    public var waitSeconds: Double

    public init(rank: Int, unitsDone: Int, busySeconds: Double, waitSeconds: Double) {
        self.rank = rank
        self.unitsDone = unitsDone
        self.busySeconds = busySeconds
        self.waitSeconds = waitSeconds
    }
}

/// What a work-queue run returns on each rank.
public struct WorkQueueReport: Sendable, Equatable {
    /// This rank's statistics.
    public var local: WorkQueueRankStatistics
    /// Every rank's statistics, indexed by rank (root only; `nil` on workers).
    public var ranks: [WorkQueueRankStatistics]?
    /// The rank that computed each unit, indexed by unit (root only; `nil` on workers).
    public var unitRanks: [Int]?

    /// The statistics of a job that ran the queue several times (in passes): figures summed per rank, unit ranks
    /// concatenated in pass order.
    public static func combining(_ reports: [WorkQueueReport], rank: Int) -> WorkQueueReport {
        func sum(_ a: WorkQueueRankStatistics, _ b: WorkQueueRankStatistics) -> WorkQueueRankStatistics {
            WorkQueueRankStatistics(
                rank: a.rank, unitsDone: a.unitsDone + b.unitsDone, busySeconds: a.busySeconds + b.busySeconds,
                waitSeconds: a.waitSeconds + b.waitSeconds)
        }
        let zero = WorkQueueRankStatistics(rank: rank, unitsDone: 0, busySeconds: 0, waitSeconds: 0)
        var out = WorkQueueReport(local: zero, ranks: nil, unitRanks: nil)
        for r in reports {
            out.local = sum(out.local, r.local)
            if let ranks = r.ranks {
                out.ranks = out.ranks.map { zip($0, ranks).map(sum) } ?? ranks
                out.unitRanks = (out.unitRanks ?? []) + (r.unitRanks ?? [])
            }
        }
        return out
    }
}

/// A dynamic work queue over units `0..<unitCount`.
///
/// Every rank of the communicator calls `run` with the same configuration. The root hands out unit indices
/// on request and also computes units itself between messages (unless `rootComputes` is false and there are
/// other ranks); workers loop "receive unit → compute → return result". The root's `deliver` callback sees
/// every result exactly once, in increasing unit order, as soon as all earlier units are in, so it can stream
/// results to a file in index order. Units must be pure functions of their index: which rank computes a unit
/// depends on timing, the delivered results do not.
///
/// If `compute` throws on a worker, the root cancels the queue and throws `remoteWorkFailed(rank:message:)`;
/// the other workers throw `workQueueCancelled`. If `compute` or `deliver` throws on the root, the root
/// cancels the workers and rethrows. No rank is left waiting.
public struct WorkQueue: Sendable, Equatable {
    /// Number of units, indexed `0..<unitCount`.
    public var unitCount: Int
    /// The rank that hands out units and receives results.
    public var root: Int
    /// Units a worker may hold at once (≥ 1); 2 hides the round trip to the root.
    public var prefetch: Int
    /// Whether the root computes units too (always true in a group of one).
    public var rootComputes: Bool
    /// Base tag; the queue uses `tag` and `tag + 1`, which no other traffic may use during `run`.
    public var tag: Int
    /// The root gives up on a worker that sends nothing for this many seconds while it holds units (or owes its
    /// final statistics), throwing `stalled` naming the rank and its units: one stopped rank ends the job instead
    /// of stalling it. Must exceed the longest unit.
    public var stallTimeout: Double = WorkQueue.defaultStallTimeout
    /// Five minutes: far longer than any unit of certify (seconds), far shorter than a job's wall-time limit.
    public static let defaultStallTimeout: Double = 300

    public init(unitCount: Int, root: Int = 0, prefetch: Int = 2, rootComputes: Bool = true, tag: Int = 32000) {
        precondition(unitCount >= 0, "unitCount \(unitCount) must be ≥ 0")
        precondition(prefetch >= 1, "prefetch \(prefetch) must be ≥ 1")
        precondition(tag >= 0 && tag < 32767, "tag \(tag) must be in 0..<32767 (the queue uses tag and tag + 1)")
        self.unitCount = unitCount
        self.root = root
        self.prefetch = prefetch
        self.rootComputes = rootComputes
        self.tag = tag
    }

    /// Runs the queue. `compute(u)` returns unit `u`'s result bytes (on whichever rank runs it);
    /// `deliver(u, bytes)` is called on the root only, in increasing `u`.
    public func run(
        on comm: any Communicator,
        compute: (Int) throws -> [UInt8],
        deliver: (Int, [UInt8]) throws -> Void
    ) throws -> WorkQueueReport {
        comm.checkRank(root, "work queue root")
        if comm.rank == root {
            return try runRoot(comm, compute: compute, deliver: deliver)
        }
        return try runWorker(comm, compute: compute)
    }

    /// Runs the queue and returns all results in unit order on the root (`nil` on workers).
    public func collect(
        on comm: any Communicator,
        compute: (Int) throws -> [UInt8]
    ) throws -> (results: [[UInt8]]?, report: WorkQueueReport) {
        var results: [[UInt8]] = []
        results.reserveCapacity(comm.rank == root ? unitCount : 0)
        let report = try run(on: comm, compute: compute) { _, bytes in results.append(bytes) }
        return (comm.rank == root ? results : nil, report)
    }

    // MARK: Root

    private enum Kind: UInt8 { case result = 1, statistics = 2, failure = 3 }
    private static let done: Int64 = -1
    private static let cancelled: Int64 = -2

    private func runRoot(
        _ comm: any Communicator,
        compute: (Int) throws -> [UInt8],
        deliver: (Int, [UInt8]) throws -> Void
    ) throws -> WorkQueueReport {
        let n = unitCount
        let workers = (0..<comm.size).filter { $0 != root }
        let rootWorks = rootComputes || workers.isEmpty
        var credit = Array(repeating: 0, count: comm.size)
        for w in workers { credit[w] = prefetch }
        var doneSent = Array(repeating: false, count: comm.size)
        var finalStats: [Int: WorkQueueRankStatistics] = [:]
        var unitRanks = Array(repeating: -1, count: n)
        var received = Array(repeating: false, count: n)
        var pending: [Int: [UInt8]] = [:]
        var nextUnit = 0
        var nextDeliver = 0
        var local = WorkQueueRankStatistics(rank: root, unitsDone: 0, busySeconds: 0, waitSeconds: 0)
        // When each worker was last heard from (or first given work): the stall watchdog's clock.
        var lastHeard = Array(repeating: DispatchTime.now().uptimeNanoseconds, count: comm.size)

        /// Throws `stalled` for a worker silent for `stallTimeout` while it holds units or owes its statistics.
        func checkStalls() throws {
            let now = DispatchTime.now().uptimeNanoseconds
            for w in workers where finalStats[w] == nil {
                let silent = Double(now &- lastHeard[w]) / 1e9
                guard silent > stallTimeout else { continue }
                let held = (0..<n).filter { unitRanks[$0] == w && !received[$0] }
                guard !held.isEmpty || doneSent[w] else { continue }
                throw DistributedError.stalled(rank: w, units: held, seconds: silent)
            }
        }

        /// The next message to the root, polled with a growing sleep (50 µs … 20 ms) rather than a blocking receive,
        /// which in Open MPI spins a core at full load; the stall watchdog runs between polls.
        func nextMessage() throws -> ReceivedMessage {
            var pause: UInt32 = 50
            while true {
                if let m = try comm.tryReceive(from: nil, tag: tag) { return m }
                try checkStalls()
                usleep(pause)
                pause = Swift.min(pause * 2, 20_000)
            }
        }

        func sendCommand(_ value: Int64, to w: Int) throws {
            try comm.send(ByteCoding.bytes(of: [value.littleEndian]), to: w, tag: tag + 1)
        }

        func deliverReady() throws {
            while nextDeliver < n, let bytes = pending.removeValue(forKey: nextDeliver) {
                try deliver(nextDeliver, bytes)
                nextDeliver += 1
            }
        }

        /// Hands out units round-robin to workers with free slots; tells idle workers when none remain.
        func assign() throws {
            var progress = true
            while progress && nextUnit < n {
                progress = false
                for w in workers where credit[w] > 0 && nextUnit < n {
                    if credit[w] == prefetch { lastHeard[w] = DispatchTime.now().uptimeNanoseconds }  // idle until now
                    try sendCommand(Int64(nextUnit), to: w)
                    unitRanks[nextUnit] = w
                    nextUnit += 1
                    credit[w] -= 1
                    progress = true
                }
            }
            if nextUnit == n {
                for w in workers where !doneSent[w] {
                    try sendCommand(Self.done, to: w)
                    doneSent[w] = true
                }
            }
        }

        func handle(_ m: ReceivedMessage) throws {
            lastHeard[m.source] = DispatchTime.now().uptimeNanoseconds
            let context = "work queue message from rank \(m.source)"
            var reader = ByteReader(m.bytes, context: context)
            switch Kind(rawValue: try reader.readUInt8()) {
            case .result:
                let u = Int(try reader.readInt64())
                guard u >= 0, u < n, unitRanks[u] == m.source, !received[u] else {
                    throw DistributedError.malformedMessage(
                        context: context, reason: "result for unit \(u), which was not assigned to it or came twice")
                }
                received[u] = true
                pending[u] = reader.readRest()
                credit[m.source] += 1
                try deliverReady()
            case .statistics:
                finalStats[m.source] = WorkQueueRankStatistics(
                    rank: m.source, unitsDone: Int(try reader.readInt64()),
                    busySeconds: try reader.readDouble(), waitSeconds: try reader.readDouble())
            case .failure:
                finalStats[m.source] = WorkQueueRankStatistics(rank: m.source, unitsDone: 0, busySeconds: 0, waitSeconds: 0)
                throw DistributedError.remoteWorkFailed(
                    rank: m.source, message: String(decoding: reader.readRest(), as: UTF8.self))
            case nil:
                throw DistributedError.malformedMessage(context: context, reason: "unknown message kind")
            }
        }

        do {
            try assign()
            while nextDeliver < n || finalStats.count < workers.count {
                while let m = try comm.tryReceive(from: nil, tag: tag) { try handle(m) }
                try checkStalls()
                try assign()
                if nextDeliver == n && finalStats.count == workers.count { break }
                if rootWorks && nextUnit < n {
                    let u = nextUnit
                    nextUnit += 1
                    unitRanks[u] = root
                    let start = DispatchTime.now().uptimeNanoseconds
                    let bytes = try compute(u)
                    local.busySeconds += Self.seconds(since: start)
                    local.unitsDone += 1
                    received[u] = true
                    pending[u] = bytes
                    try deliverReady()
                    continue
                }
                let start = DispatchTime.now().uptimeNanoseconds
                let m = try nextMessage()
                local.waitSeconds += Self.seconds(since: start)
                try handle(m)
            }
        } catch {
            // Stop every worker that is still running, then report the original error.
            for w in workers where finalStats[w] == nil {
                try? sendCommand(Self.cancelled, to: w)
            }
            throw error
        }
        var ranks = (0..<comm.size).map { finalStats[$0] ?? WorkQueueRankStatistics(rank: $0, unitsDone: 0, busySeconds: 0, waitSeconds: 0) }
        ranks[root] = local
        return WorkQueueReport(local: local, ranks: ranks, unitRanks: unitRanks)
    }

    // MARK: Worker

    private func runWorker(_ comm: any Communicator, compute: (Int) throws -> [UInt8]) throws -> WorkQueueReport {
        var queue: [Int] = []
        var head = 0
        var finished = false
        var local = WorkQueueRankStatistics(rank: comm.rank, unitsDone: 0, busySeconds: 0, waitSeconds: 0)

        func process(_ m: ReceivedMessage) throws {
            let values = try ByteCoding.values(of: m.bytes, as: Int64.self, context: "work queue command from root")
            guard values.count == 1 else {
                throw DistributedError.malformedMessage(context: "work queue command from root", reason: "\(values.count) values")
            }
            let v = Int64(littleEndian: values[0])
            switch v {
            case Self.done: finished = true
            case Self.cancelled: throw DistributedError.workQueueCancelled(root: root)
            case 0...: queue.append(Int(v))
            default:
                throw DistributedError.malformedMessage(context: "work queue command from root", reason: "value \(v)")
            }
        }

        while true {
            while let m = try comm.tryReceive(from: root, tag: tag + 1) { try process(m) }
            if head == queue.count {
                if finished { break }
                // Polled with a growing sleep (50 µs … 5 ms), not a blocking receive: Open MPI's blocking receive
                // spins (or sched_yields) at full load, and with many ranks per core the idle ranks' spinning takes
                // the cores from the ones computing (BENCHMARKS.md, 64 ranks on 2 cores).
                let start = DispatchTime.now().uptimeNanoseconds
                var pause: UInt32 = 50
                var message = try comm.tryReceive(from: root, tag: tag + 1)
                while message == nil {
                    usleep(pause)
                    pause = Swift.min(pause * 2, 5_000)
                    message = try comm.tryReceive(from: root, tag: tag + 1)
                }
                local.waitSeconds += Self.seconds(since: start)
                try process(message!)
                continue
            }
            let u = queue[head]
            head += 1
            let start = DispatchTime.now().uptimeNanoseconds
            let bytes: [UInt8]
            do {
                bytes = try compute(u)
            } catch {
                var w = ByteWriter()
                w.append(Kind.failure.rawValue)
                w.append(contentsOf: Array("unit \(u): \(error)".utf8))
                try? comm.send(w.bytes, to: root, tag: tag)
                throw error
            }
            local.busySeconds += Self.seconds(since: start)
            local.unitsDone += 1
            var w = ByteWriter()
            w.append(Kind.result.rawValue)
            w.append(Int64(u))
            w.append(contentsOf: bytes)
            try comm.send(w.bytes, to: root, tag: tag)
        }
        var w = ByteWriter()
        w.append(Kind.statistics.rawValue)
        w.append(Int64(local.unitsDone))
        w.append(local.busySeconds)
        w.append(local.waitSeconds)
        try comm.send(w.bytes, to: root, tag: tag)
        return WorkQueueReport(local: local, ranks: nil, unitRanks: nil)
    }

    private static func seconds(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
