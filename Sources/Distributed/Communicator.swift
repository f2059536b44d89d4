// The communication surface every distributed job is written against.
// Names: `rank` ∈ 0..<size is this process's (or thread's) index in the group; `root` is a rank.
import Foundation

/// A message returned by `Communicator.receive` / `tryReceive`: who sent it, its tag, its payload.
public typealias ReceivedMessage = (source: Int, tag: Int, bytes: [UInt8])

/// A group of `size` ranks that exchange byte buffers, with MPI semantics.
///
/// Collectives (`barrier`, `broadcast`, `allReduce`, `reduce`, `gather`, `allGather`) must be called by every
/// rank of the group in the same order with matching arguments (same root, same op, same element count for
/// reductions). Floating-point reductions are folded in rank order, `r = ((c₀ ⊕ c₁) ⊕ c₂) ⊕ …`
/// (see `ReductionOp.combine`), so a result is bit-identical run to run at a fixed size, whatever the timing.
///
/// Point-to-point: `send` does not wait for the matching `receive` (the communicator owns a copy of the bytes);
/// messages from one sender to one receiver with the same tag arrive in the order they were sent.
/// Tags are in `0...Communicator.maxTag`.
///
/// An instance is used from one thread (its rank's thread); it is not `Sendable`.
public protocol Communicator: AnyObject {
    /// This member's index in the group, `0..<size`.
    var rank: Int { get }
    /// Number of members in the group (≥ 1).
    var size: Int { get }

    /// Returns once every rank has entered the barrier.
    func barrier() throws

    /// Replaces `bytes` on every rank with `root`'s buffer (the lengths may differ before the call).
    func broadcast(_ bytes: inout [UInt8], root: Int) throws

    /// Elementwise reduction over all ranks; every rank receives the result in place. Counts must match.
    func allReduce(_ values: inout [Int64], op: ReductionOp) throws
    /// Elementwise reduction over all ranks, folded in rank order (bit-deterministic); result on every rank.
    func allReduce(_ values: inout [Double], op: ReductionOp) throws
    /// Elementwise reduction over all ranks, folded in rank order (bit-deterministic); result on every rank.
    func allReduce(_ values: inout [Float], op: ReductionOp) throws

    /// Elementwise reduction over all ranks; the result on `root`, `nil` on the other ranks.
    func reduce(_ values: [Int64], op: ReductionOp, to root: Int) throws -> [Int64]?
    /// Elementwise reduction folded in rank order; the result on `root`, `nil` on the other ranks.
    func reduce(_ values: [Double], op: ReductionOp, to root: Int) throws -> [Double]?
    /// Elementwise reduction folded in rank order; the result on `root`, `nil` on the other ranks.
    func reduce(_ values: [Float], op: ReductionOp, to root: Int) throws -> [Float]?

    /// Collects every rank's buffer (lengths may differ) on `root`, indexed by rank; `nil` on the other ranks.
    func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]]?
    /// Collects every rank's buffer (lengths may differ) on every rank, indexed by rank.
    func allGather(_ bytes: [UInt8]) throws -> [[UInt8]]

    /// Sends `bytes` to rank `destination` with `tag` (0...maxTag); returns without waiting for the receive.
    func send(_ bytes: [UInt8], to destination: Int, tag: Int) throws
    /// Blocks until a message from `source` (any if nil) with `tag` (any if nil) arrives, and returns it.
    func receive(from source: Int?, tag: Int?) throws -> ReceivedMessage
    /// Returns a matching message if one has already arrived, `nil` otherwise; never blocks.
    func tryReceive(from source: Int?, tag: Int?) throws -> ReceivedMessage?

    /// Prints `message` naming this rank to standard error, then ends the whole job with exit status `code`.
    func abort(message: String, code: Int32) -> Never
}

extension Communicator {
    /// Largest tag a message may carry (the minimum `MPI_TAG_UB` the MPI standard guarantees).
    public static var maxTag: Int { 32767 }

    /// `true` on rank 0.
    public var isRoot: Bool { rank == 0 }

    /// Replaces `values` on every rank with `root`'s array (counts may differ before the call).
    public func broadcast(_ values: inout [Int64], root: Int) throws {
        var bytes = ByteCoding.bytes(of: values)
        try broadcast(&bytes, root: root)
        values = try ByteCoding.values(of: bytes, as: Int64.self, context: "broadcast([Int64])")
    }

    /// Replaces `values` on every rank with `root`'s array (counts may differ before the call).
    public func broadcast(_ values: inout [Double], root: Int) throws {
        var bytes = ByteCoding.bytes(of: values)
        try broadcast(&bytes, root: root)
        values = try ByteCoding.values(of: bytes, as: Double.self, context: "broadcast([Double])")
    }

    /// Replaces `values` on every rank with `root`'s array (counts may differ before the call).
    public func broadcast(_ values: inout [Float], root: Int) throws {
        var bytes = ByteCoding.bytes(of: values)
        try broadcast(&bytes, root: root)
        values = try ByteCoding.values(of: bytes, as: Float.self, context: "broadcast([Float])")
    }

    /// `abort(message:code:)` with exit status 1.
    public func abort(message: String) -> Never {
        abort(message: message, code: 1)
    }

    /// Checks a rank argument (programmer error if out of range).
    @inlinable
    public func checkRank(_ r: Int, _ what: StaticString = "rank") {
        precondition(r >= 0 && r < size, "\(what) \(r) is outside 0..<\(size)")
    }

    /// Checks a tag argument (programmer error if out of range).
    @inlinable
    public func checkTag(_ tag: Int) {
        precondition(tag >= 0 && tag <= Self.maxTag, "tag \(tag) is outside 0...\(Self.maxTag)")
    }
}

/// Writes one line to standard error (Swift 6 code cannot use C's `stderr`).
public func writeToStandardError(_ line: String) {
    let text = line.hasSuffix("\n") ? line : line + "\n"
    FileHandle.standardError.write(Data(text.utf8))
}
