// An in-process group of N ranks on N threads, for testing sharding, scheduling and reductions without MPI.
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs a body on `size` threads, each with its own `Communicator` of one in-process group.
///
/// Collectives have MPI semantics (every rank calls them in the same order) and are checked: ranks that enter
/// different collectives, or the same one with different arguments, all throw `collectiveMismatch` instead of
/// corrupting data. Reductions fold contributions in rank order (`ReductionOp.combine`), so results are
/// bit-identical whatever the thread timing. If a rank throws or calls `abort`, the other ranks' blocking calls
/// throw (`peerFailed` / `aborted`) instead of hanging; every blocking call also gives up after `timeout` seconds.
///
/// ```swift
/// let sums = try ThreadGroup.run(size: 3) { comm in
///     var v: [Double] = [Double(comm.rank)]
///     try comm.allReduce(&v, op: .sum)
///     return v[0]
/// }   // [3.0, 3.0, 3.0]
/// ```
public enum ThreadGroup {
    /// Seconds a blocking call waits before it throws `timeout`.
    public static let defaultTimeout: Double = 60

    /// Runs `body` on ranks `0..<size` concurrently and returns each rank's result, indexed by rank.
    ///
    /// Throws the error of the first rank that failed (or `DistributedError.aborted` if a rank called `abort`).
    public static func run<R: Sendable>(
        size: Int,
        timeout: Double = defaultTimeout,
        _ body: @escaping @Sendable (any Communicator) throws -> R
    ) throws -> [R] {
        precondition(size >= 1, "ThreadGroup size \(size) must be ≥ 1")
        precondition(timeout > 0, "ThreadGroup timeout must be > 0")
        let state = ThreadGroupState(size: size, timeout: timeout)
        let slots = ResultSlots<R>(count: size)
        var threads: [RankThread] = []
        for r in 0..<size {
            threads.append(
                RankThread.start {
                    let comm = ThreadGroupCommunicator(rank: r, state: state)
                    do {
                        slots.set(r, .success(try body(comm)))
                    } catch {
                        slots.set(r, .failure(error))
                        state.recordFailure(rank: r, error: error)
                    }
                    state.markFinished(rank: r)
                })
        }
        for t in threads { t.join() }

        if let first = state.causeOfFailure {
            if case .aborted = first.error { throw first.error }
            if case .failure(let e)? = slots.get(first.rank) { throw e }
            throw first.error
        }
        return try (0..<size).map { r in
            guard let result = slots.get(r) else {
                throw DistributedError.peerFailed(rank: r, reason: "rank ended without a result")
            }
            return try result.get()
        }
    }
}

/// One rank's communicator in a `ThreadGroup`; used only from that rank's thread.
public final class ThreadGroupCommunicator: Communicator {
    public let rank: Int
    public var size: Int { state.size }
    private let state: ThreadGroupState
    private var sequence = 0

    init(rank: Int, state: ThreadGroupState) {
        self.rank = rank
        self.state = state
    }

    private func collective(_ signature: String, _ contribution: [UInt8]) throws -> [[UInt8]] {
        defer { sequence += 1 }
        return try state.exchange(rank: rank, sequence: sequence, signature: signature, contribution: contribution)
    }

    public func barrier() throws {
        _ = try collective("barrier()", [])
    }

    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        checkRank(root, "root")
        let all = try collective("broadcast(root: \(root))", rank == root ? bytes : [])
        bytes = all[root]
    }

    private func reduced<T: ReducibleScalar>(_ values: [T], op: ReductionOp, root: Int?) throws -> [T]? {
        let name =
            root.map { "reduce(\(T.self), \(op), count: \(values.count), root: \($0))" }
            ?? "allReduce(\(T.self), \(op), count: \(values.count))"
        let all = try collective(name, ByteCoding.bytes(of: values))
        if let root, root != rank { return nil }
        let contributions = try all.map { try ByteCoding.values(of: $0, as: T.self, context: name) }
        return op.combine(contributions)
    }

    public func allReduce(_ values: inout [Int64], op: ReductionOp) throws {
        values = try reduced(values, op: op, root: nil)!
    }
    public func allReduce(_ values: inout [Double], op: ReductionOp) throws {
        values = try reduced(values, op: op, root: nil)!
    }
    public func allReduce(_ values: inout [Float], op: ReductionOp) throws {
        values = try reduced(values, op: op, root: nil)!
    }

    public func reduce(_ values: [Int64], op: ReductionOp, to root: Int) throws -> [Int64]? {
        checkRank(root, "root"); return try reduced(values, op: op, root: root)
    }
    public func reduce(_ values: [Double], op: ReductionOp, to root: Int) throws -> [Double]? {
        checkRank(root, "root"); return try reduced(values, op: op, root: root)
    }
    public func reduce(_ values: [Float], op: ReductionOp, to root: Int) throws -> [Float]? {
        checkRank(root, "root"); return try reduced(values, op: op, root: root)
    }

    public func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]]? {
        checkRank(root, "root")
        let all = try collective("gather(root: \(root))", bytes)
        return rank == root ? all : nil
    }

    public func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] {
        try collective("allGather()", bytes)
    }

    public func send(_ bytes: [UInt8], to destination: Int, tag: Int) throws {
        checkRank(destination, "destination"); checkTag(tag)
        try state.post(from: rank, to: destination, tag: tag, bytes: bytes)
    }

    public func receive(from source: Int?, tag: Int?) throws -> ReceivedMessage {
        if let s = source { checkRank(s, "source") }
        if let t = tag { checkTag(t) }
        return try state.take(rank: rank, source: source, tag: tag, blocking: true)!
    }

    public func tryReceive(from source: Int?, tag: Int?) throws -> ReceivedMessage? {
        if let s = source { checkRank(s, "source") }
        if let t = tag { checkTag(t) }
        return try state.take(rank: rank, source: source, tag: tag, blocking: false)
    }

    /// Prints the message naming the rank, fails the group (other ranks' blocking calls throw `aborted`,
    /// `ThreadGroup.run` throws `aborted`) and ends this rank's thread. The test process keeps running.
    public func abort(message: String, code: Int32) -> Never {
        writeToStandardError("equicert: rank \(rank) of \(size) aborted (code \(code)): \(message)")
        state.recordAbort(rank: rank, message: message, code: code)
        state.markFinished(rank: rank)
        pthread_exit(nil)
    }
}

// MARK: - Shared state

/// State shared by the ranks of one group. Every mutable field is read and written with `condition` locked,
/// which is what makes the `@unchecked Sendable` sound.
final class ThreadGroupState: @unchecked Sendable {
    struct Round {
        var contributions: [[UInt8]?]
        var signatures: [String?]
        var arrived = 0
        var readers = 0
    }

    let size: Int
    let timeout: Double
    private let condition = NSCondition()
    private var rounds: [Int: Round] = [:]
    private var mailboxes: [[ReceivedMessage]]
    private var finished: [Bool]
    private var failure: (rank: Int, error: DistributedError)?
    /// The first failure that is not merely a rank learning of another's (`workQueueCancelled`, `peerFailed`): the
    /// cause. A worker can record its `workQueueCancelled` before the root, which cancelled because of its own
    /// error, has unwound to record that error.
    private var cause: (rank: Int, error: DistributedError)?

    init(size: Int, timeout: Double) {
        self.size = size
        self.timeout = timeout
        mailboxes = Array(repeating: [], count: size)
        finished = Array(repeating: false, count: size)
    }

    var firstFailure: (rank: Int, error: DistributedError)? {
        condition.lock(); defer { condition.unlock() }
        return failure
    }

    /// The failure to report for the group: the first one that caused the others, else the first one.
    var causeOfFailure: (rank: Int, error: DistributedError)? {
        condition.lock(); defer { condition.unlock() }
        return cause ?? failure
    }

    func recordFailure(rank: Int, error: any Error) {
        condition.lock(); defer { condition.unlock() }
        let recorded =
            (error as? DistributedError).flatMap { e -> DistributedError? in
                if case .aborted = e { return e } else { return nil }
            } ?? .peerFailed(rank: rank, reason: "\(error)")
        if failure == nil { failure = (rank, recorded) }
        if cause == nil {
            switch error as? DistributedError {
            case .workQueueCancelled?, .peerFailed?: break  // a rank learning of another's failure
            default: cause = (rank, recorded)
            }
        }
        condition.broadcast()
    }

    func recordAbort(rank: Int, message: String, code: Int32) {
        condition.lock(); defer { condition.unlock() }
        if failure == nil { failure = (rank, .aborted(rank: rank, message: message, code: code)) }
        if cause == nil { cause = (rank, .aborted(rank: rank, message: message, code: code)) }
        condition.broadcast()
    }

    func markFinished(rank: Int) {
        condition.lock(); defer { condition.unlock() }
        finished[rank] = true
        condition.broadcast()
    }

    /// Waits (lock held) until `ready()` returns a value; throws on a peer failure or timeout.
    private func wait<T>(rank: Int, operation: @autoclosure () -> String, _ ready: () throws -> T?) throws -> T {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while true {
            if let value = try ready() { return value }
            if let f = failure, f.rank != rank { throw f.error }
            if !condition.wait(until: deadline) {
                if let value = try ready() { return value }
                let e = DistributedError.timeout(rank: rank, operation: operation(), seconds: timeout)
                if failure == nil { failure = (rank, .peerFailed(rank: rank, reason: e.description)) }
                condition.broadcast()
                throw e
            }
        }
    }

    /// All-to-all exchange of one buffer per rank for collective number `sequence`.
    func exchange(rank: Int, sequence: Int, signature: String, contribution: [UInt8]) throws -> [[UInt8]] {
        condition.lock(); defer { condition.unlock() }
        var round =
            rounds[sequence]
            ?? Round(
                contributions: Array(repeating: nil, count: size), signatures: Array(repeating: nil, count: size))
        round.contributions[rank] = contribution
        round.signatures[rank] = signature
        round.arrived += 1
        rounds[sequence] = round
        condition.broadcast()

        let complete: Round = try wait(rank: rank, operation: signature) {
            let r = rounds[sequence]!
            if r.arrived == size { return r }
            if let gone = (0..<size).first(where: { finished[$0] && r.signatures[$0] == nil }) {
                throw DistributedError.collectiveMismatch(
                    rank: rank, mine: signature, other: "no further collective (it returned)", otherRank: gone)
            }
            return nil
        }
        var done = complete
        done.readers += 1
        rounds[sequence] = done.readers == size ? nil : done
        if let other = (0..<size).first(where: { complete.signatures[$0] != signature }) {
            throw DistributedError.collectiveMismatch(
                rank: rank, mine: signature, other: complete.signatures[other]!, otherRank: other)
        }
        return complete.contributions.map { $0! }
    }

    func post(from source: Int, to destination: Int, tag: Int, bytes: [UInt8]) throws {
        condition.lock(); defer { condition.unlock() }
        mailboxes[destination].append((source: source, tag: tag, bytes: bytes))
        condition.broadcast()
    }

    func take(rank: Int, source: Int?, tag: Int?, blocking: Bool) throws -> ReceivedMessage? {
        condition.lock(); defer { condition.unlock() }
        func match() -> ReceivedMessage? {
            guard
                let i = mailboxes[rank].firstIndex(where: {
                    (source == nil || $0.source == source) && (tag == nil || $0.tag == tag)
                })
            else { return nil }
            return mailboxes[rank].remove(at: i)
        }
        if !blocking { return match() }
        let operation = "receive(from: \(source.map(String.init) ?? "any"), tag: \(tag.map(String.init) ?? "any"))"
        return try wait(rank: rank, operation: operation) {
            if let m = match() { return m }
            let senders = source.map { [$0] } ?? Array(0..<size)
            if senders.allSatisfy({ $0 != rank && finished[$0] }) {
                throw DistributedError.wouldBlockForever(operation: "rank \(rank): \(operation)")
            }
            return nil
        }
    }
}

/// Per-rank results of a group, written once by each rank's thread.
private final class ResultSlots<R: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<R, any Error>?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ r: Int, _ value: Result<R, any Error>) {
        lock.lock(); defer { lock.unlock() }
        slots[r] = value
    }

    func get(_ r: Int) -> Result<R, any Error>? {
        lock.lock(); defer { lock.unlock() }
        return slots[r]
    }
}

/// A joinable POSIX thread running a closure (POSIX, so `abort` can end it with `pthread_exit`).
private struct RankThread {
    final class Start: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    #if canImport(Glibc)
        let id: pthread_t
    #else
        let id: pthread_t?
    #endif

    static func start(_ body: @escaping @Sendable () -> Void) -> RankThread {
        let context = Unmanaged.passRetained(Start(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, 16 << 20)
        #if canImport(Glibc)
            var id = pthread_t()
            let rc = pthread_create(
                &id, &attributes,
                { raw in
                    Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue().body()
                    return nil
                }, context)
        #else
            var id: pthread_t?
            let rc = pthread_create(
                &id, &attributes,
                { raw in
                    Unmanaged<Start>.fromOpaque(raw).takeRetainedValue().body()
                    return nil
                }, context)
        #endif
        precondition(rc == 0, "pthread_create failed with code \(rc)")
        return RankThread(id: id)
    }

    func join() {
        #if canImport(Glibc)
            pthread_join(id, nil)
        #else
            pthread_join(id!, nil)
        #endif
    }
}
