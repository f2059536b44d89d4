// The group of one: every collective is the identity, messages to self are queued locally.
import Foundation

/// A communicator of size 1 (rank 0): the default for plain runs and `swift test`.
///
/// Collectives return the caller's own data; `send` to rank 0 queues the message for a later `receive`;
/// a blocking `receive` with nothing queued throws `wouldBlockForever` instead of hanging.
public final class SingleProcessCommunicator: Communicator {
    public let rank = 0
    public let size = 1
    private var mailbox: [ReceivedMessage] = []

    public init() {}

    public func barrier() throws {}

    public func broadcast(_ bytes: inout [UInt8], root: Int) throws { checkRank(root, "root") }

    public func allReduce(_ values: inout [Int64], op: ReductionOp) throws {}
    public func allReduce(_ values: inout [Double], op: ReductionOp) throws {}
    public func allReduce(_ values: inout [Float], op: ReductionOp) throws {}

    public func reduce(_ values: [Int64], op: ReductionOp, to root: Int) throws -> [Int64]? {
        checkRank(root, "root"); return values
    }
    public func reduce(_ values: [Double], op: ReductionOp, to root: Int) throws -> [Double]? {
        checkRank(root, "root"); return values
    }
    public func reduce(_ values: [Float], op: ReductionOp, to root: Int) throws -> [Float]? {
        checkRank(root, "root"); return values
    }

    public func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]]? {
        checkRank(root, "root"); return [bytes]
    }
    public func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] { [bytes] }

    public func send(_ bytes: [UInt8], to destination: Int, tag: Int) throws {
        checkRank(destination, "destination"); checkTag(tag)
        mailbox.append((source: 0, tag: tag, bytes: bytes))
    }

    public func receive(from source: Int?, tag: Int?) throws -> ReceivedMessage {
        if let m = try tryReceive(from: source, tag: tag) { return m }
        throw DistributedError.wouldBlockForever(
            operation: "receive(from: \(source.map(String.init) ?? "any"), tag: \(tag.map(String.init) ?? "any"))")
    }

    public func tryReceive(from source: Int?, tag: Int?) throws -> ReceivedMessage? {
        if let s = source { checkRank(s, "source") }
        if let t = tag { checkTag(t) }
        guard let i = mailbox.firstIndex(where: { tag == nil || $0.tag == tag }) else { return nil }
        return mailbox.remove(at: i)
    }

    public func abort(message: String, code: Int32) -> Never {
        writeToStandardError("equicert: rank 0 of 1: \(message)")
        exit(code)
    }
}
