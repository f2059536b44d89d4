// A self-test of a communicator: every collective, point-to-point messaging and the work queue, each with
// results every rank can check on its own. `equicert mpi-selftest` runs it under mpirun; the tests run it on
// thread groups of sizes 1–4.
import Foundation

/// Exercises every operation of `comm` and checks the results; returns a one-line summary on every rank.
///
/// All ranks must call it together. Checks never change the sequence of communication, so a wrong result on
/// one rank cannot hang the others: failures are collected, exchanged at the end, and then every rank throws
/// `DistributedError.selfTestFailed` listing every failed check with its rank.
///
/// Checked: barrier; byte and typed broadcasts from the first and last rank (including lengths that differ
/// before the call); `allReduce`/`reduce` of `Int64`, `Double`, `Float` with `sum`/`max`/`min` against the
/// rank-order fold computed locally (bit-exact); `gather`/`allGather` of buffers of different lengths
/// (one empty); a ring of `send`/`receive` (small and 1 MiB messages, both sent before either is received);
/// receives from any source with any tag; `tryReceive` with nothing pending; a `WorkQueue` of `4·size + 3`
/// units whose results arrive in unit order with the right bytes.
///
/// Summary: `mpi-selftest: OK size=<n> checks=<total> units=<units per rank, comma-separated>`.
public func runMPISelfTest(comm: any Communicator) throws -> String {
    let r = comm.rank, n = comm.size, last = n - 1
    var failures: [String] = []
    var checks = 0
    func check(_ ok: Bool, _ what: @autoclosure () -> String) {
        checks += 1
        if !ok { failures.append("rank \(r): \(what())") }
    }

    // Barrier.
    try comm.barrier()
    checks += 1

    // Byte broadcast from the last rank; non-roots start with buffers of other lengths.
    var bytes: [UInt8] = r == last ? (0..<(5 + last)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 1) } : Array(repeating: 9, count: r)
    try comm.broadcast(&bytes, root: last)
    check(bytes == (0..<(5 + last)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 1) }, "broadcast(bytes, root: \(last)) gave \(bytes)")
    // Empty buffer from rank 0 replaces non-empty ones.
    var empty: [UInt8] = r == 0 ? [] : [1, 2, 3]
    try comm.broadcast(&empty, root: 0)
    check(empty.isEmpty, "broadcast of an empty buffer gave \(empty.count) bytes")
    // Typed broadcasts.
    var i64: [Int64] = r == 0 ? [Int64.min, -1, 0, Int64.max] : []
    try comm.broadcast(&i64, root: 0)
    check(i64 == [Int64.min, -1, 0, Int64.max], "broadcast([Int64]) gave \(i64)")
    var f64: [Double] = r == last ? [Double.pi, -0.0, 1e-300] : [1]
    try comm.broadcast(&f64, root: last)
    check(f64.map(\.bitPattern) == [Double.pi, -0.0, 1e-300].map(\.bitPattern), "broadcast([Double]) gave \(f64)")
    var f32: [Float] = r == 0 ? [Float.pi, 3.5] : [0, 0, 0]
    try comm.broadcast(&f32, root: 0)
    check(f32 == [Float.pi, 3.5], "broadcast([Float]) gave \(f32)")

    // Reductions: contributions are pure functions of (rank, index); the expected value is the rank-order fold.
    let count = 7
    func intValues(_ q: Int) -> [Int64] {
        let sign: Int64 = q % 2 == 0 ? 1 : -1
        return (0..<count).map { i -> Int64 in
            let magnitude = Int64(q + 1) * 1_000_003 + Int64(i) * 7919
            return sign * magnitude
        }
    }
    func doubleValues(_ q: Int) -> [Double] {
        // Mixed magnitudes make the sum depend on the order of additions.
        let scale: Double = q == 0 ? 1e16 : 1.0 + 0.1 * Double(q)
        return (0..<count).map { i -> Double in
            let sign: Double = i % 2 == 0 ? 1 : -1
            return scale * Double(i + 1) * sign
        }
    }
    func floatValues(_ q: Int) -> [Float] {
        let scale: Float = q == 0 ? 1e8 : 0.3 * Float(q + 1)
        return (0..<count).map { i -> Float in scale * Float(i + 1) }
    }
    for op in ReductionOp.allCases {
        let intExpected = op.combine((0..<n).map(intValues))
        var iv = intValues(r)
        try comm.allReduce(&iv, op: op)
        check(iv == intExpected, "allReduce([Int64], \(op)) gave \(iv), expected \(intExpected)")
        let ir = try comm.reduce(intValues(r), op: op, to: last)
        check(r == last ? ir == intExpected : ir == nil, "reduce([Int64], \(op), to: \(last)) gave \(String(describing: ir))")

        let doubleExpected = op.combine((0..<n).map(doubleValues))
        var dv = doubleValues(r)
        try comm.allReduce(&dv, op: op)
        check(
            dv.map(\.bitPattern) == doubleExpected.map(\.bitPattern),
            "allReduce([Double], \(op)) gave \(dv), expected rank-order fold \(doubleExpected)")
        let dr = try comm.reduce(doubleValues(r), op: op, to: last)
        check(
            r == last ? dr?.map(\.bitPattern) == doubleExpected.map(\.bitPattern) : dr == nil,
            "reduce([Double], \(op), to: \(last)) gave \(String(describing: dr))")

        let floatExpected = op.combine((0..<n).map(floatValues))
        var fv = floatValues(r)
        try comm.allReduce(&fv, op: op)
        check(
            fv.map(\.bitPattern) == floatExpected.map(\.bitPattern),
            "allReduce([Float], \(op)) gave \(fv), expected rank-order fold \(floatExpected)")
        let fr = try comm.reduce(floatValues(r), op: op, to: 0)
        check(
            r == 0 ? fr?.map(\.bitPattern) == floatExpected.map(\.bitPattern) : fr == nil,
            "reduce([Float], \(op), to: 0) gave \(String(describing: fr))")
    }
    // A closed form, independent of the fold: Σ_q 1 = size.
    var closed = [Int64](repeating: 1, count: 1)
    try comm.allReduce(&closed, op: .sum)
    check(closed == [Int64(n)], "allReduce([1], sum) gave \(closed), expected [\(n)]")

    // Gather and allGather of buffers of different lengths (rank 0's is empty).
    func piece(_ q: Int) -> [UInt8] { Array(repeating: UInt8(truncatingIfNeeded: q &+ 100), count: 3 * q) }
    let gathered = try comm.gather(piece(r), root: last)
    if r == last {
        check(gathered == (0..<n).map(piece), "gather(root: \(last)) gave lengths \(gathered?.map(\.count) ?? [])")
    } else {
        check(gathered == nil, "gather on a non-root returned \(String(describing: gathered?.count)) buffers")
    }
    let all = try comm.allGather(piece(r))
    check(all == (0..<n).map(piece), "allGather gave lengths \(all.map(\.count))")

    // Point-to-point ring: small then 1 MiB, each sent before the matching receive is posted.
    let next = (r + 1) % n, previous = (r + n - 1) % n
    func small(_ q: Int) -> [UInt8] { [UInt8(truncatingIfNeeded: q), 0xAB] + Array(repeating: UInt8(truncatingIfNeeded: q), count: q * 10) }
    func large(_ q: Int) -> [UInt8] { (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ q) } }
    try comm.send(small(r), to: next, tag: 11)
    try comm.send(large(r), to: next, tag: 12)
    let m1 = try comm.receive(from: previous, tag: 11)
    check(
        m1.source == previous && m1.tag == 11 && m1.bytes == small(previous),
        "ring receive (small) got source \(m1.source) tag \(m1.tag) \(m1.bytes.count) bytes")
    let m2 = try comm.receive(from: previous, tag: 12)
    check(
        m2.source == previous && m2.tag == 12 && m2.bytes == large(previous),
        "ring receive (1 MiB) got source \(m2.source) tag \(m2.tag) \(m2.bytes.count) bytes")
    try comm.barrier()

    // Any source, any tag: every other rank reports to rank 0.
    if r != 0 {
        try comm.send(ByteCoding.bytes(of: [Int64(r)]), to: 0, tag: 20 + r % 3)
    } else {
        var seen: Set<Int> = []
        for _ in 1..<n {
            let m = try comm.receive(from: nil, tag: nil)
            let payload = (try? ByteCoding.values(of: m.bytes, as: Int64.self, context: "self-test")) ?? []
            check(
                payload == [Int64(m.source)] && m.tag == 20 + m.source % 3,
                "receive(any, any) got source \(m.source) tag \(m.tag) payload \(payload)")
            seen.insert(m.source)
        }
        check(seen == Set(1..<n), "receive(any, any) saw sources \(seen.sorted())")
    }
    try comm.barrier()
    let stray = try comm.tryReceive(from: nil, tag: 99)
    check(stray == nil, "tryReceive with nothing sent returned a message from \(stray?.source ?? -1)")

    // Work queue: results must arrive at the root in unit order with the right bytes.
    let units = 4 * n + 3
    func unitResult(_ u: Int) -> [UInt8] {
        ByteCoding.bytes(of: [Int64(u * u), Int64(u ^ 0x5A)]) + Array(repeating: UInt8(u % 251), count: u % 5)
    }
    var delivered: [Int] = []
    var wrong: [Int] = []
    let report = try WorkQueue(unitCount: units).run(on: comm, compute: unitResult) { u, b in
        delivered.append(u)
        if b != unitResult(u) { wrong.append(u) }
    }
    var perRank: [Int64] = report.ranks.map { $0.map { Int64($0.unitsDone) } } ?? []
    if r == 0 {
        check(delivered == Array(0..<units), "work queue delivered units \(delivered)")
        check(wrong.isEmpty, "work queue results wrong for units \(wrong)")
        check(perRank.reduce(0, +) == Int64(units) && perRank.count == n, "work queue per-rank units \(perRank) do not add up to \(units)")
        check(report.unitRanks?.allSatisfy { (0..<n).contains($0) } == true, "work queue unit ranks \(String(describing: report.unitRanks))")
    } else {
        check(delivered.isEmpty && report.ranks == nil, "work queue delivered \(delivered.count) results on a worker")
    }
    try comm.broadcast(&perRank, root: 0)

    // Exchange failures so every rank knows the verdict, then report.
    let everyFailure = try comm.allGather(Array(failures.joined(separator: "\n").utf8))
        .flatMap { String(decoding: $0, as: UTF8.self).split(separator: "\n").map(String.init) }
    var totalChecks: [Int64] = [Int64(checks)]
    try comm.allReduce(&totalChecks, op: .sum)
    if !everyFailure.isEmpty { throw DistributedError.selfTestFailed(failures: everyFailure) }
    return "mpi-selftest: OK size=\(n) checks=\(totalChecks[0]) units=\(perRank.map(String.init).joined(separator: ","))"
}
