/// Errors of the Distributed module: bad input, failed peers, protocol violations.
public enum DistributedError: Error, CustomStringConvertible, Equatable {
    /// A `--shard i/n` string that does not parse or is out of range.
    case invalidShardSpec(text: String, reason: String)
    /// Ranks entered different collectives (or the same one with different arguments).
    case collectiveMismatch(rank: Int, mine: String, other: String, otherRank: Int)
    /// Another rank of an in-process group threw; this rank stopped waiting for it.
    case peerFailed(rank: Int, reason: String)
    /// A rank called `abort`; the group ended.
    case aborted(rank: Int, message: String, code: Int32)
    /// A blocking call of an in-process group waited longer than the group's timeout.
    case timeout(rank: Int, operation: String, seconds: Double)
    /// A blocking receive that can never complete (single process, nothing queued).
    case wouldBlockForever(operation: String)
    /// A received buffer does not have the expected layout.
    case malformedMessage(context: String, reason: String)
    /// A work unit failed on another rank; the queue was cancelled.
    case remoteWorkFailed(rank: Int, message: String)
    /// The work queue's root cancelled the queue (another rank failed).
    case workQueueCancelled(root: Int)
    /// A worker of the work queue sent nothing for `seconds` while holding `units` (stopped, hung or unreachable).
    case stalled(rank: Int, units: [Int], seconds: Double)
    /// `runMPISelfTest` found wrong results (one line per failed check, naming the rank).
    case selfTestFailed(failures: [String])

    public var description: String {
        switch self {
        case let .invalidShardSpec(text, reason):
            return "invalid shard '\(text)': \(reason)"
        case let .collectiveMismatch(rank, mine, other, otherRank):
            return "rank \(rank): collective mismatch: this rank called \(mine), rank \(otherRank) called \(other)"
        case let .peerFailed(rank, reason):
            return "rank \(rank) failed: \(reason)"
        case let .aborted(rank, message, code):
            return "rank \(rank) aborted the job (code \(code)): \(message)"
        case let .timeout(rank, operation, seconds):
            return "rank \(rank): \(operation) timed out after \(seconds) s"
        case let .wouldBlockForever(operation):
            return "\(operation) would block forever: no other rank can send"
        case let .malformedMessage(context, reason):
            return "malformed message in \(context): \(reason)"
        case let .remoteWorkFailed(rank, message):
            return "work unit failed on rank \(rank): \(message)"
        case let .workQueueCancelled(root):
            return "work queue cancelled by root rank \(root) (another rank failed)"
        case let .stalled(rank, units, seconds):
            let held =
                units.isEmpty ? "after its last unit" : "holding unit\(units.count == 1 ? "" : "s") \(units.map(String.init).joined(separator: ", "))"
            return
                "rank \(rank) stalled: nothing from it for \(Int(seconds.rounded())) s \(held) (stopped, hung or unreachable); the job is aborted (--stall-timeout sets the limit)"
        case let .selfTestFailed(failures):
            return "self-test failed (\(failures.count) checks): " + failures.joined(separator: "; ")
        }
    }
}
