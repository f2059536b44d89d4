// The Communicator over MPI: the only code in the package that calls MPI_*.
// Every call's return code is checked (the communicator installs MPI_ERRORS_RETURN) and turned into
// DistributedMPIError.call naming the function.
import CMPI
import Distributed
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A `Communicator` over `MPI_COMM_WORLD` (a duplicate of it, so library traffic cannot collide with others').
///
/// - Creating it calls `MPI_Init_thread` (once per process); `finalize()` (or, failing that, process exit)
///   calls `MPI_Finalize`.
/// - Thread level `.funneled` (default): only the thread that created the communicator may use it
///   (checked); compute may run on other threads. `.serialized`: any thread, one at a time (caller's duty).
/// - Floating-point reductions `.rankOrdered` (default) all-gather the contributions and fold them in rank
///   order (`ReductionOp.combine`), so results are bit-identical to `ThreadGroup`'s at the same size;
///   `.native` uses `MPI_Allreduce`/`MPI_Reduce` (faster for large buffers, bits depend on Open MPI's algorithm).
///   Integer reductions always use `MPI_Allreduce`/`MPI_Reduce` (exact in any order).
/// - `send` is `MPI_Isend` from a private copy of the bytes; the copy is freed once the send completes.
/// - `receive` uses matched probes (`MPI_Mprobe`/`MPI_Mrecv`), so buffers of any length arrive whole.
///
/// Not `Sendable`: MPI handles belong to the initializing thread under `.funneled`.
public final class MPICommunicator: Communicator {
    /// The MPI thread-support level to request.
    public enum ThreadLevel: Sendable {
        case funneled, serialized

        var mpiValue: Int32 {
            switch self {
            case .funneled: return Int32(MPI_THREAD_FUNNELED)
            case .serialized: return Int32(MPI_THREAD_SERIALIZED)
            }
        }
    }

    /// How floating-point `allReduce`/`reduce` combine contributions.
    public enum FloatingReduction: Sendable {
        case rankOrdered, native
    }

    public let rank: Int
    public let size: Int
    /// The thread level this communicator was created with.
    public let threadLevel: ThreadLevel
    /// The floating-point reduction strategy.
    public let floatingReduction: FloatingReduction

    private let comm: MPI_Comm
    private let owner: pthread_t
    private var pendingSends: [(request: MPI_Request?, buffer: UnsafeMutableRawPointer)] = []
    private var finalized = false
    /// False for a `subgroup`: finalizing it frees its handle, not MPI.
    private let ownsMPI: Bool

    /// Initializes MPI with `threadLevel`, duplicates `MPI_COMM_WORLD`, and registers `MPI_Finalize` at exit.
    /// Throws if MPI was already initialized or finalized in this process, or on any failed MPI call.
    public convenience init(threadLevel: ThreadLevel = .funneled, floatingReduction: FloatingReduction = .rankOrdered) throws {
        var flag: Int32 = 0
        try Self.check("MPI_Finalized", MPI_Finalized(&flag))
        if flag != 0 { throw DistributedMPIError.alreadyFinalized }
        try Self.check("MPI_Initialized", MPI_Initialized(&flag))
        if flag != 0 { throw DistributedMPIError.alreadyInitialized }

        var provided: Int32 = 0
        try Self.check("MPI_Init_thread", MPI_Init_thread(nil, nil, threadLevel.mpiValue, &provided))
        atexit { MPICommunicator.finalizeAtExit() }
        guard provided >= threadLevel.mpiValue else {
            throw DistributedMPIError.insufficientThreadSupport(required: "\(threadLevel)", provided: provided)
        }
        try Self.check("MPI_Comm_set_errhandler", MPI_Comm_set_errhandler(eqc_comm_world(), eqc_errors_return()))
        var dup: MPI_Comm? = eqc_comm_null()
        try Self.check("MPI_Comm_dup", MPI_Comm_dup(eqc_comm_world(), &dup))
        guard let dup else { throw DistributedMPIError.call(function: "MPI_Comm_dup", code: -1, message: "returned a null communicator") }
        try self.init(handle: dup, threadLevel: threadLevel, floatingReduction: floatingReduction, ownsMPI: true)
    }

    /// A communicator over `handle` (already duplicated or split); `ownsMPI`: its `finalize()` finalizes MPI.
    private init(handle: MPI_Comm, threadLevel: ThreadLevel, floatingReduction: FloatingReduction, ownsMPI: Bool) throws {
        try Self.check("MPI_Comm_set_errhandler", MPI_Comm_set_errhandler(handle, eqc_errors_return()))
        var r: Int32 = 0, n: Int32 = 0
        try Self.check("MPI_Comm_rank", MPI_Comm_rank(handle, &r))
        try Self.check("MPI_Comm_size", MPI_Comm_size(handle, &n))
        self.comm = handle
        self.rank = Int(r)
        self.size = Int(n)
        self.threadLevel = threadLevel
        self.floatingReduction = floatingReduction
        self.owner = pthread_self()
        self.ownsMPI = ownsMPI
    }

    /// The communicator of `members` (ranks of this one; in the new one they keep their order, so the lowest is
    /// rank 0), or nil on a rank not among them. Collective: every rank calls it with the same `members`.
    /// Its `finalize()` only frees it; this communicator's still finalizes MPI, and its `abort` still ends the
    /// whole job. Used to leave parked ranks out of a job (`RankParking`).
    public func subgroup(_ members: [Int]) throws -> MPICommunicator? {
        enter()
        let mine = members.contains(rank)
        var handle: MPI_Comm? = eqc_comm_null()
        try Self.check("MPI_Comm_split", MPI_Comm_split(comm, mine ? 0 : eqc_undefined(), Int32(rank), &handle))
        guard mine, let handle else { return nil }
        return try MPICommunicator(handle: handle, threadLevel: threadLevel, floatingReduction: floatingReduction, ownsMPI: false)
    }

    /// The MPI library's version string (`MPI_Get_library_version`; callable before initialization).
    public static func libraryVersion() -> String {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_LIBRARY_VERSION_STRING) + 1)
        var length: Int32 = 0
        guard MPI_Get_library_version(&buffer, &length) == MPI_SUCCESS else { return "unknown" }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Completes pending sends, frees the communicator and calls `MPI_Finalize` (a subgroup: only frees it). Every rank must call it
    /// (it synchronizes). Any later use of the communicator is a programmer error.
    public func finalize() throws {
        guard !finalized else { return }
        enter()
        try completeSends()
        var handle: MPI_Comm? = comm
        try Self.check("MPI_Comm_free", MPI_Comm_free(&handle))
        finalized = true
        guard ownsMPI else { return }
        var flag: Int32 = 0
        try Self.check("MPI_Finalized", MPI_Finalized(&flag))
        if flag == 0 { try Self.check("MPI_Finalize", MPI_Finalize()) }
    }

    /// Called at process exit: finalizes MPI if the program did not.
    private static func finalizeAtExit() {
        var initialized: Int32 = 0, done: Int32 = 0
        MPI_Initialized(&initialized)
        MPI_Finalized(&done)
        if initialized != 0 && done == 0 { MPI_Finalize() }
    }

    // MARK: Checks

    /// Throws `DistributedMPIError.call` when `code` is not `MPI_SUCCESS`.
    static func check(_ function: String, _ code: Int32) throws {
        guard code != MPI_SUCCESS else { return }
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        let message: String
        if MPI_Error_string(code, &buffer, &length) == MPI_SUCCESS {
            message = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        } else {
            message = "unknown error"
        }
        throw DistributedMPIError.call(function: function, code: code, message: message)
    }

    private func enter() {
        precondition(!finalized, "MPICommunicator used after finalize()")
        if threadLevel == .funneled {
            precondition(
                pthread_equal(owner, pthread_self()) != 0,
                "MPICommunicator (funneled) used from a thread other than the one that created it")
        }
    }

    private static func count32(_ n: Int, _ function: String) throws -> Int32 {
        guard n <= Int(Int32.max) else { throw DistributedMPIError.countTooLarge(function: function, count: n) }
        return Int32(n)
    }

    // MARK: Collectives

    public func barrier() throws {
        enter()
        try Self.check("MPI_Barrier", MPI_Barrier(comm))
    }

    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        enter(); checkRank(root, "root")
        var length = Int64(bytes.count)
        try Self.check("MPI_Bcast", MPI_Bcast(&length, 1, eqc_type_int64(), Int32(root), comm))
        if rank != root { bytes = [UInt8](repeating: 0, count: Int(length)) }
        let chunk = 1 << 30
        var offset = 0
        while offset < bytes.count {
            let n = Swift.min(chunk, bytes.count - offset)
            try bytes.withUnsafeMutableBytes { raw in
                try Self.check("MPI_Bcast", MPI_Bcast(raw.baseAddress! + offset, Int32(n), eqc_type_byte(), Int32(root), comm))
            }
            offset += n
        }
    }

    private func datatype<T: ReducibleScalar>(_ type: T.Type) -> MPI_Datatype {
        if T.self == Int64.self { return eqc_type_int64() }
        if T.self == Double.self { return eqc_type_double() }
        if T.self == Float.self { return eqc_type_float() }
        preconditionFailure("no MPI datatype for \(T.self)")
    }

    private func mpiOp(_ op: ReductionOp) -> MPI_Op {
        switch op {
        case .sum: return eqc_op_sum()
        case .max: return eqc_op_max()
        case .min: return eqc_op_min()
        }
    }

    /// Rank-order fold of `size` contributions of `count` elements laid out one after another in `all`;
    /// the same sequence of operations as `ReductionOp.combine`.
    private func fold<T: ReducibleScalar>(_ all: [T], count: Int, op: ReductionOp) -> [T] {
        var result = Array(all[0..<count])
        for q in 1..<size {
            let base = q * count
            for i in 0..<count { result[i] = T.combine(result[i], all[base + i], op) }
        }
        return result
    }

    private func allGatherFixed<T: ReducibleScalar>(_ values: [T], function: String) throws -> [T] {
        let n = try Self.count32(values.count, function)
        _ = try Self.count32(values.count * size, function)
        var all = [T](repeating: Self.zero(T.self), count: Swift.max(1, values.count * size))
        try Self.withNonNull(values) { send in
            try all.withUnsafeMutableBytes { recv in
                try Self.check(function, MPI_Allgather(send, n, datatype(T.self), recv.baseAddress, n, datatype(T.self), comm))
            }
        }
        return all
    }

    private static func zero<T: ReducibleScalar>(_ type: T.Type) -> T {
        withUnsafeTemporaryAllocation(of: T.self, capacity: 1) { p in
            UnsafeMutableRawBufferPointer(p).initializeMemory(as: UInt8.self, repeating: 0)
            return p[0]
        }
    }

    private func allReduceScalars<T: ReducibleScalar>(_ values: inout [T], op: ReductionOp, native: Bool) throws {
        enter()
        if native {
            let n = try Self.count32(values.count, "MPI_Allreduce")
            if values.isEmpty {
                var dummy = Self.zero(T.self)
                try Self.check("MPI_Allreduce", MPI_Allreduce(eqc_in_place(), &dummy, 0, datatype(T.self), mpiOp(op), comm))
                return
            }
            try values.withUnsafeMutableBytes { raw in
                try Self.check("MPI_Allreduce", MPI_Allreduce(eqc_in_place(), raw.baseAddress, n, datatype(T.self), mpiOp(op), comm))
            }
        } else {
            let all = try allGatherFixed(values, function: "MPI_Allgather (allReduce)")
            if !values.isEmpty { values = fold(all, count: values.count, op: op) }
        }
    }

    private func reduceScalars<T: ReducibleScalar>(_ values: [T], op: ReductionOp, root: Int, native: Bool) throws -> [T]? {
        enter(); checkRank(root, "root")
        let n = try Self.count32(values.count, "MPI_Reduce")
        if native {
            var result = [T](repeating: Self.zero(T.self), count: Swift.max(1, values.count))
            try Self.withNonNull(values) { send in
                try result.withUnsafeMutableBytes { recv in
                    try Self.check("MPI_Reduce", MPI_Reduce(send, recv.baseAddress, n, datatype(T.self), mpiOp(op), Int32(root), comm))
                }
            }
            return rank == root ? Array(result.prefix(values.count)) : nil
        }
        _ = try Self.count32(values.count * size, "MPI_Gather (reduce)")
        var all = [T](repeating: Self.zero(T.self), count: Swift.max(1, rank == root ? values.count * size : 1))
        try Self.withNonNull(values) { send in
            try all.withUnsafeMutableBytes { recv in
                try Self.check("MPI_Gather (reduce)", MPI_Gather(send, n, datatype(T.self), recv.baseAddress, n, datatype(T.self), Int32(root), comm))
            }
        }
        guard rank == root else { return nil }
        return values.isEmpty ? [] : fold(all, count: values.count, op: op)
    }

    public func allReduce(_ values: inout [Int64], op: ReductionOp) throws {
        try allReduceScalars(&values, op: op, native: true)
    }
    public func allReduce(_ values: inout [Double], op: ReductionOp) throws {
        try allReduceScalars(&values, op: op, native: floatingReduction == .native)
    }
    public func allReduce(_ values: inout [Float], op: ReductionOp) throws {
        try allReduceScalars(&values, op: op, native: floatingReduction == .native)
    }

    public func reduce(_ values: [Int64], op: ReductionOp, to root: Int) throws -> [Int64]? {
        try reduceScalars(values, op: op, root: root, native: true)
    }
    public func reduce(_ values: [Double], op: ReductionOp, to root: Int) throws -> [Double]? {
        try reduceScalars(values, op: op, root: root, native: floatingReduction == .native)
    }
    public func reduce(_ values: [Float], op: ReductionOp, to root: Int) throws -> [Float]? {
        try reduceScalars(values, op: op, root: root, native: floatingReduction == .native)
    }

    /// Displacements (prefix sums) of `counts`, checked to fit MPI's `Int32`.
    private func displacements(_ counts: [Int32], _ function: String) throws -> (displs: [Int32], total: Int) {
        var displs = [Int32](repeating: 0, count: counts.count)
        var total = 0
        for (i, c) in counts.enumerated() {
            displs[i] = try Self.count32(total, function)
            total += Int(c)
        }
        _ = try Self.count32(total, function)
        return (displs, total)
    }

    private func split(_ all: [UInt8], counts: [Int32], displs: [Int32]) -> [[UInt8]] {
        (0..<counts.count).map { q in Array(all[Int(displs[q])..<(Int(displs[q]) + Int(counts[q]))]) }
    }

    public func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]]? {
        enter(); checkRank(root, "root")
        var mine = try Self.count32(bytes.count, "MPI_Gatherv")
        var counts = [Int32](repeating: 0, count: rank == root ? size : 1)
        try Self.check("MPI_Gather (counts)", MPI_Gather(&mine, 1, eqc_type_int(), &counts, 1, eqc_type_int(), Int32(root), comm))
        let (displs, total) = rank == root ? try displacements(counts, "MPI_Gatherv") : ([0], 0)
        var all = [UInt8](repeating: 0, count: Swift.max(1, total))
        try Self.withNonNull(bytes) { send in
            try all.withUnsafeMutableBytes { recv in
                try Self.check(
                    "MPI_Gatherv", MPI_Gatherv(send, mine, eqc_type_byte(), recv.baseAddress, counts, displs, eqc_type_byte(), Int32(root), comm))
            }
        }
        return rank == root ? split(all, counts: counts, displs: displs) : nil
    }

    public func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] {
        enter()
        var mine = try Self.count32(bytes.count, "MPI_Allgatherv")
        var counts = [Int32](repeating: 0, count: size)
        try Self.check("MPI_Allgather (counts)", MPI_Allgather(&mine, 1, eqc_type_int(), &counts, 1, eqc_type_int(), comm))
        let (displs, total) = try displacements(counts, "MPI_Allgatherv")
        var all = [UInt8](repeating: 0, count: Swift.max(1, total))
        try Self.withNonNull(bytes) { send in
            try all.withUnsafeMutableBytes { recv in
                try Self.check("MPI_Allgatherv", MPI_Allgatherv(send, mine, eqc_type_byte(), recv.baseAddress, counts, displs, eqc_type_byte(), comm))
            }
        }
        return split(all, counts: counts, displs: displs)
    }

    /// Calls `body` with a non-null pointer to the array's bytes (a dummy byte when it is empty).
    private static func withNonNull<T, R>(_ values: [T], _ body: (UnsafeRawPointer) throws -> R) rethrows -> R {
        if values.isEmpty {
            var dummy: UInt64 = 0
            return try withUnsafeBytes(of: &dummy) { try body($0.baseAddress!) }
        }
        return try values.withUnsafeBytes { try body($0.baseAddress!) }
    }

    // MARK: Point to point

    public func send(_ bytes: [UInt8], to destination: Int, tag: Int) throws {
        enter(); checkRank(destination, "destination"); checkTag(tag)
        let n = try Self.count32(bytes.count, "MPI_Isend")
        try reapSends()
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(1, bytes.count), alignment: 16)
        bytes.withUnsafeBytes { if !$0.isEmpty { buffer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
        var request: MPI_Request? = eqc_request_null()
        do {
            try Self.check("MPI_Isend", MPI_Isend(buffer, n, eqc_type_byte(), Int32(destination), Int32(tag), comm, &request))
        } catch {
            buffer.deallocate()
            throw error
        }
        pendingSends.append((request, buffer))
    }

    /// Frees the buffers of sends that have completed.
    private func reapSends() throws {
        var i = 0
        while i < pendingSends.count {
            var request = pendingSends[i].request
            var flag: Int32 = 0
            try Self.check("MPI_Test", MPI_Test(&request, &flag, eqc_status_ignore()))
            if flag != 0 {
                pendingSends[i].buffer.deallocate()
                pendingSends.remove(at: i)
            } else {
                pendingSends[i].request = request
                i += 1
            }
        }
    }

    /// Waits for every pending send (they complete once the receivers receive them).
    private func completeSends() throws {
        for i in pendingSends.indices {
            var request = pendingSends[i].request
            try Self.check("MPI_Wait", MPI_Wait(&request, eqc_status_ignore()))
            pendingSends[i].buffer.deallocate()
        }
        pendingSends.removeAll()
    }

    public func receive(from source: Int?, tag: Int?) throws -> ReceivedMessage {
        enter()
        if let s = source { checkRank(s, "source") }
        if let t = tag { checkTag(t) }
        try reapSends()
        var message: MPI_Message? = eqc_message_null()
        var status = MPI_Status()
        try Self.check("MPI_Mprobe", MPI_Mprobe(Int32(source ?? Int(eqc_any_source())), Int32(tag ?? Int(eqc_any_tag())), comm, &message, &status))
        return try receiveMatched(&message, status)
    }

    public func tryReceive(from source: Int?, tag: Int?) throws -> ReceivedMessage? {
        enter()
        if let s = source { checkRank(s, "source") }
        if let t = tag { checkTag(t) }
        try reapSends()
        var message: MPI_Message? = eqc_message_null()
        var status = MPI_Status()
        var flag: Int32 = 0
        try Self.check(
            "MPI_Improbe", MPI_Improbe(Int32(source ?? Int(eqc_any_source())), Int32(tag ?? Int(eqc_any_tag())), comm, &flag, &message, &status))
        guard flag != 0 else { return nil }
        return try receiveMatched(&message, status)
    }

    private func receiveMatched(_ message: inout MPI_Message?, _ probed: MPI_Status) throws -> ReceivedMessage {
        var status = probed
        var count: Int32 = 0
        try Self.check("MPI_Get_count", MPI_Get_count(&status, eqc_type_byte(), &count))
        var bytes = [UInt8](repeating: 0, count: Swift.max(1, Int(count)))
        try bytes.withUnsafeMutableBytes { raw in
            try Self.check("MPI_Mrecv", MPI_Mrecv(raw.baseAddress, count, eqc_type_byte(), &message, eqc_status_ignore()))
        }
        if count == 0 { bytes = [] }
        return (source: Int(probed.MPI_SOURCE), tag: Int(probed.MPI_TAG), bytes: bytes)
    }

    // MARK: Abort

    /// Prints `equicert: rank r of n: message` to standard error and calls `MPI_Abort(MPI_COMM_WORLD, code)`,
    /// which ends every rank of the job with exit status `code`.
    public func abort(message: String, code: Int32) -> Never {
        writeToStandardError("equicert: rank \(rank) of \(size): \(message)")
        MPI_Abort(eqc_comm_world(), code)
        exit(code)
    }
}
