import Testing

@testable import Distributed

@Suite struct RankParkingTests {
    /// `count` ranks from `first` on `host`, each seeing `cpus`.
    func sites(_ host: String, _ ranks: Range<Int>, cpus: [Int]) -> [RankSite] {
        ranks.map { RankSite(rank: $0, host: host, cpus: cpus) }
    }

    @Test("one host, 64 ranks on 2 cores: ranks 0 and 1 work, 2–63 are parked")
    func oneHostOversubscribed() {
        let p = RankParking.plan(sites: sites("n1", 0..<64, cpus: [0, 1]))
        #expect(p.active == [0, 1])
        #expect(p.parked == Array(2..<64))
        #expect(p.reason == "host n1: 64 ranks on 2 cores")
        #expect(RankParking.describe(p.parked) == "2–63")
    }

    @Test("no more ranks than cores: everyone works, nothing to report")
    func notOversubscribed() {
        // mpirun -np 2 binds each rank to a core: each sees one CPU, the host has two.
        let bound = [RankSite(rank: 0, host: "n1", cpus: [0]), RankSite(rank: 1, host: "n1", cpus: [1])]
        #expect(RankParking.plan(sites: bound) == .allActive(size: 2))
        #expect(RankParking.plan(sites: sites("n1", 0..<4, cpus: [0, 1, 2, 3])) == .allActive(size: 4))
        #expect(RankParking.plan(sites: sites("n1", 0..<1, cpus: [0])) == .allActive(size: 1))
        // Unknown CPUs: no parking.
        #expect(RankParking.plan(sites: sites("n1", 0..<8, cpus: [])) == .allActive(size: 8))
    }

    @Test("two hosts, one oversubscribed: its lowest-numbered ranks work, the other host is untouched")
    func twoHostsMixed() {
        // Ranks interleaved over the hosts (mpirun --map-by node): n1 has 0, 2, 4, 6; n2 has 1, 3, 5, 7.
        var s: [RankSite] = []
        for r in 0..<8 { s.append(RankSite(rank: r, host: r % 2 == 0 ? "n1" : "n2", cpus: r % 2 == 0 ? [0, 1] : [0, 1, 2, 3])) }
        let p = RankParking.plan(sites: s.reversed())
        #expect(p.active == [0, 1, 2, 3, 5, 7])
        #expect(p.parked == [4, 6])
        #expect(p.oversubscribedHosts == ["host n1: 4 ranks on 2 cores"])
        let both = RankParking.plan(sites: sites("a", 0..<3, cpus: [0]) + sites("b", 3..<8, cpus: [0, 1]))
        #expect(both.active == [0, 3, 4])
        #expect(both.reason == "host a: 3 ranks on 1 core; host b: 5 ranks on 2 cores")
        #expect(RankParking.describe(both.parked) == "1–2, 5–7")
    }

    @Test("a root that does not compute takes no core of its host")
    func rootNotComputing() {
        let s = sites("n1", 0..<64, cpus: [0, 1])
        #expect(RankParking.plan(sites: s, rootComputes: false).active == [0, 1, 2])
        #expect(RankParking.plan(sites: sites("n1", 0..<3, cpus: [0, 1]), rootComputes: false) == .allActive(size: 3))
        // Another root rank is active first, then the lowest-numbered others.
        let p = RankParking.plan(sites: s, root: 5)
        #expect(p.active == [0, 5])
        #expect(RankParking.plan(sites: s, root: 5, rootComputes: false).active == [0, 1, 5])
    }

    @Test("--use-all-ranks: nobody parked, the oversubscribed host still named")
    func offSwitch() {
        let p = RankParking.plan(sites: sites("n1", 0..<64, cpus: [0, 1]), useAllRanks: true)
        #expect(p.active == Array(0..<64) && p.parked.isEmpty)
        #expect(p.reason == "host n1: 64 ranks on 2 cores")
    }

    @Test func sitesRoundTripAndCPUListsParse() throws {
        let s = RankSite(rank: 3, host: "nodé-7", cpus: [0, 2, 5])
        #expect(try RankSite(rank: 3, bytes: s.bytes) == s)
        #expect(throws: DistributedError.self) { try RankSite(rank: 3, bytes: Array(s.bytes.dropLast())) }
        #expect(RankSite.parseCPUList("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11])
        #expect(RankSite.parseCPUList("1") == [1])
        #expect(RankSite.parseCPUList("3-1") == nil && RankSite.parseCPUList("x") == nil)
        let here = RankSite.current(rank: 0)
        #expect(!here.cpus.isEmpty && !here.host.isEmpty)
    }
}
