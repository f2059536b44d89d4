// Oversubscription: which ranks of a job get work when a host runs more ranks than it has cores.
//
// With 64 ranks on 2 cores every extra rank costs start-up (process, MPI, model and data) and, once it computes,
// evicts the others' working sets; the units get no faster (BENCHMARKS.md, "64 ranks"). So only `cores` ranks of
// such a host work and the rest are parked: they leave the job at start-up and wait for its end.
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where one rank runs: its host and the CPUs it may run on.
public struct RankSite: Sendable, Equatable {
    public var rank: Int
    public var host: String
    /// The CPU ids this rank may run on (its affinity mask; empty: unknown). A host's cores are the union over its
    /// ranks, not one rank's count: `mpirun -np 2` binds each rank to one core, so each sees a single CPU.
    public var cpus: [Int]

    public init(rank: Int, host: String, cpus: [Int]) {
        self.rank = rank; self.host = host; self.cpus = cpus
    }
}

/// Which ranks get work: `active` in rank order, the others `parked`.
public struct RankParking: Sendable, Equatable {
    /// Ranks that take part in the job, ascending (the root first).
    public var active: [Int]
    /// Ranks that get no work and wait for the end, ascending.
    public var parked: [Int]
    /// One entry per host with more ranks than cores, e.g. `host n1: 64 ranks on 2 cores`, in rank order of hosts.
    public var oversubscribedHosts: [String]

    /// Every rank of a world of `size` active.
    public static func allActive(size: Int) -> RankParking {
        RankParking(active: Array(0..<size), parked: [], oversubscribedHosts: [])
    }

    /// The hosts' descriptions joined (nil when no host is oversubscribed).
    public var reason: String? { oversubscribedHosts.isEmpty ? nil : oversubscribedHosts.joined(separator: "; ") }

    /// Per host, the lowest-numbered `cores` ranks are active, the others parked; a host with no more ranks than
    /// cores (or whose CPUs are unknown) keeps them all. The root is always active; if it does not compute, it
    /// takes no core of its host's share (it mostly waits for messages). `useAllRanks`: nobody is parked (the
    /// oversubscribed hosts are still named), for users who oversubscribe on purpose.
    public static func plan(sites: [RankSite], root: Int = 0, rootComputes: Bool = true, useAllRanks: Bool = false) -> RankParking {
        let sites = sites.sorted { $0.rank < $1.rank }
        var hosts: [String] = []
        var byHost: [String: [RankSite]] = [:]
        for s in sites {
            if byHost[s.host] == nil { hosts.append(s.host) }
            byHost[s.host, default: []].append(s)
        }
        var active: [Int] = [], parked: [Int] = [], described: [String] = []
        for host in hosts {
            let ranks = byHost[host]!
            let cores = Set(ranks.flatMap(\.cpus)).count
            let hasRoot = ranks.contains { $0.rank == root }
            let capacity = cores + (hasRoot && !rootComputes ? 1 : 0)
            guard cores > 0, ranks.count > capacity else {
                active += ranks.map(\.rank)
                continue
            }
            described.append("host \(host): \(ranks.count) ranks on \(cores) core\(cores == 1 ? "" : "s")")
            if useAllRanks {
                active += ranks.map(\.rank)
                continue
            }
            // The root first, then the lowest-numbered others up to the host's capacity.
            let order = ranks.filter { $0.rank == root } + ranks.filter { $0.rank != root }
            active += order.prefix(capacity).map(\.rank)
            parked += order.dropFirst(capacity).map(\.rank)
        }
        return RankParking(active: active.sorted(), parked: parked.sorted(), oversubscribedHosts: described)
    }

    /// `0–1, 5, 7–63`: ranks as ascending runs.
    public static func describe(_ ranks: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        while i < ranks.count {
            var j = i
            while j + 1 < ranks.count && ranks[j + 1] == ranks[j] + 1 { j += 1 }
            parts.append(j == i ? "\(ranks[i])" : "\(ranks[i])–\(ranks[j])")
            i = j + 1
        }
        return parts.joined(separator: ", ")
    }
}

extension RankSite {
    /// This process's site: `gethostname` and its affinity CPUs (Linux: `Cpus_allowed_list` of /proc/self/status;
    /// elsewhere `0..<activeProcessorCount`).
    public static func current(rank: Int) -> RankSite {
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count - 1) == 0 ? String(cString: name) : "unknown"
        var cpus: [Int] = []
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") })
        {
            cpus = parseCPUList(String(line.dropFirst("Cpus_allowed_list:".count))) ?? []
        }
        if cpus.isEmpty { cpus = Array(0..<Swift.max(1, ProcessInfo.processInfo.activeProcessorCount)) }
        return RankSite(rank: rank, host: host, cpus: cpus)
    }

    /// `0-3,8,10-11` → [0, 1, 2, 3, 8, 10, 11]; nil if malformed.
    public static func parseCPUList(_ text: String) -> [Int]? {
        var cpus: [Int] = []
        for part in text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",") {
            let ends = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard ends.count <= 2, let lo = ends.first ?? nil, let hi = ends.last ?? nil, lo >= 0, hi >= lo else { return nil }
            cpus += Array(lo...hi)
        }
        return cpus
    }

    /// The site as bytes (host length, host, CPU count, CPUs), to gather at start-up.
    public var bytes: [UInt8] {
        var w = ByteWriter()
        let name = Array(host.utf8)
        w.append(Int64(name.count))
        w.append(contentsOf: name)
        w.append(Int64(cpus.count))
        for c in cpus { w.append(Int64(c)) }
        return w.bytes
    }

    /// A site from `bytes` sent by `rank`.
    public init(rank: Int, bytes: [UInt8]) throws {
        var r = ByteReader(bytes, context: "rank \(rank)'s host and CPUs")
        let n = Int(try r.readInt64())
        let name = try r.readBytes(n)
        let count = Int(try r.readInt64())
        guard count >= 0 else { throw DistributedError.malformedMessage(context: "rank \(rank)'s CPUs", reason: "count \(count)") }
        var cpus: [Int] = []
        for _ in 0..<count { cpus.append(Int(try r.readInt64())) }
        self.init(rank: rank, host: String(decoding: name, as: UTF8.self), cpus: cpus)
    }
}
