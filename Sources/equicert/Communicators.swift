import ArgumentParser
import Attacks
import Certification
import Coordinator
import Distributed
import DistributedMPI
import Foundation
import Pruning
import TensorCore

/// Which communicator a job runs on (only the executable chooses; see docs/architecture.md).
enum DistributedChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, off, mpi
}

/// Pick the communicator: MPI when launched by mpirun/srun (auto) or asked for (mpi), else a single process.
/// With MPI, OpenBLAS runs one thread per rank unless `--threads` says otherwise.
/// Also returns every rank's host and CPUs (gathered with the build check; nil for a single rank).
func makeCommunicator(_ choice: DistributedChoice, threads: Int?) throws -> (comm: any Communicator, sites: [RankSite]?) {
    let comm: any Communicator
    switch choice {
    case .off: comm = SingleProcessCommunicator()
    case .mpi: comm = try MPICommunicator()
    case .auto: comm = MPIEnvironment.launchedByMPI ? try MPICommunicator() : SingleProcessCommunicator()
    }
    let sites = comm.size > 1 ? try checkSameBuild(comm) : nil
    if let threads {
        BLAS.setThreadCount(threads)
    } else if comm.size > 1 {
        // One BLAS thread per rank: launch one rank per core (cluster/mpirun-equicert does). Work units are small
        // batches, where a multi-threaded OpenBLAS GEMM is slower than a single-threaded one (BENCHMARKS.md: 2
        // threads halved certify throughput on an idle machine and made a rank ~10× slower on a busy host).
        BLAS.setThreadCount(1)
    }
    return (comm, sites)
}

/// An error as the command line reports it: settings of the certification layer are named by their flags.
func describe(_ error: any Error) -> String {
    if case let .invalidSetting(name, value, reason) = error as? CertificationError {
        return "invalid --\(SmoothingOptions.flag(forSetting: name)) \(value): \(reason)"
    }
    if case let .invalidSetting(name, value, reason) = error as? PruningError {
        return "invalid --\(PruningProcedure.option(forSetting: name)) \(value): \(reason)"
    }
    if case let .similarityThresholdOutOfRange(value) = error as? AttackError {
        return "invalid --similarity-threshold \(value): must be in [0, 1]"
    }
    return "\(error)"
}

/// Finish an MPI job cleanly, or abort the whole job from any rank with a message naming the rank.
func finishOrAbort(_ comm: any Communicator, _ body: () throws -> Void) throws {
    do {
        try body()
        if let mpi = comm as? MPICommunicator { try mpi.finalize() }
    } catch let e as ExitCode {
        if comm.size > 1 { comm.abort(message: "exit \(e.rawValue)", code: e.rawValue) }
        throw e
    } catch {
        if comm.size > 1 { comm.abort(message: describe(error), code: 1) }
        FileHandle.standardError.write(Data("equicert: error: \(describe(error))\n".utf8))
        throw ExitCode(1)
    }
}

/// FNV-1a (64-bit) over this process's executable in 8-byte words (then the tail bytes): ranks compare it at
/// start-up so a job never mixes builds. Word-wise because every rank hashes the whole 20 MB binary: byte by byte
/// that was ≈ 30 ms a rank, a second of a 64-rank job's start on 2 cores.
func executableFingerprint() -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    let prime: UInt64 = 0x100_0000_01b3
    guard let data = FileManager.default.contents(atPath: "/proc/self/exe") else { return 0 }
    data.withUnsafeBytes { raw in
        let words = raw.count / 8
        for i in 0..<words { h = (h ^ raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) &* prime }
        for b in raw[(8 * words)...] { h = (h ^ UInt64(b)) &* prime }
    }
    return h
}

/// Every rank must run the same equicert build (a version mismatch between hosts is a clear error, not a hang).
/// The same all-gather carries each rank's host and CPUs (`RankSite`), returned for `RankParking`: one start-up
/// exchange, not two.
@discardableResult
func checkSameBuild(_ comm: any Communicator) throws -> [RankSite] {
    let mine = Int64(bitPattern: executableFingerprint())
    let all = try comm.allGather(ByteCoding.bytes(of: [mine]) + RankSite.current(rank: comm.rank).bytes)
    let fingerprints = try all.map { try ByteCoding.values(of: Array($0.prefix(8)), as: Int64.self, context: "build fingerprint")[0] }
    if let other = fingerprints.firstIndex(where: { $0 != fingerprints[0] }) {
        let message =
            "rank \(other) runs a different equicert build than rank 0 (executable fingerprint "
            + String(format: "%016llx vs %016llx", UInt64(bitPattern: fingerprints[other]), UInt64(bitPattern: fingerprints[0]))
            + "): install the same binary on every host"
        if comm.rank == 0 { comm.abort(message: message, code: 2) }
        try comm.barrier()
    }
    return try all.enumerated().map { try RankSite(rank: $0.offset, bytes: Array($0.element.dropFirst(8))) }
}

/// Create the communicator, run `body` on it, then finalize — or end the job from any rank with one clear line.
///
/// `workers` > 1 (only without MPI): the job runs as that many in-process ranks (a `ThreadGroup`, one OpenBLAS
/// thread each) instead of one rank whose GEMMs are split over threads. The work units of certify/predict are
/// small batches (50 chains), where a second BLAS thread slows a GEMM down more than it helps (BENCHMARKS.md,
/// cluster), while independent units scale with the cores exactly as MPI ranks do — with the same results, since
/// the noise is keyed by (seed, image, phase, chain, step) whatever runs it.
func runDistributed(
    _ choice: DistributedChoice, threads: Int?, workers: Int? = nil,
    _ body: (any Communicator) throws -> Void
) throws {
    try runDistributed(choice, threads: threads, workers: workers, parking: nil) { comm, _ in try body(comm) }
}

/// How a command whose ranks only take units from a work queue treats hosts with more ranks than cores.
struct ParkingChoice {
    /// `--use-all-ranks`: give every rank work anyway.
    var useAllRanks = false
    /// Say on standard error which ranks are parked (not with `--quiet`).
    var announce = true
}

/// The stderr line of an oversubscribed job (nil when no host is), from the root.
func parkingNote(_ plan: RankParking) -> String? {
    guard let reason = plan.reason else { return nil }
    if plan.parked.isEmpty { return "equicert: \(reason): every rank gets work (--use-all-ranks)" }
    return
        "equicert: \(reason): ranks \(RankParking.describe(plan.parked)) parked (no work), ranks "
        + "\(RankParking.describe(plan.active)) compute; --use-all-ranks to use them all"
}

/// `runDistributed` for a work-queue command: with `parking`, under MPI, ranks beyond a host's cores are parked
/// (`RankParking`): they skip the job entirely — no model, no data, no collectives — and wait, polling every
/// 100 ms, for the root's word that it is done; `body` runs on a communicator of the active ranks only and gets
/// the plan (nil when no host is oversubscribed). A failure anywhere still aborts the whole job, parked ranks too.
func runDistributed(
    _ choice: DistributedChoice, threads: Int?, workers: Int? = nil, parking: ParkingChoice?,
    _ body: (any Communicator, RankParking?) throws -> Void
) throws {
    func refuse(_ message: String) throws -> Never {
        FileHandle.standardError.write(Data("equicert: error: \(message)\n".utf8))
        throw ExitCode(1)
    }
    if let threads, threads < 1 { try refuse("invalid --threads \(threads): must be ≥ 1") }
    if let workers, workers < 1 { try refuse("invalid --workers \(workers): must be ≥ 1") }
    if let workers, workers > 1, !(choice == .mpi || (choice == .auto && MPIEnvironment.launchedByMPI)) {
        if let mismatch = MPIEnvironment.worldSizeMismatch(actual: 1) { try refuse(mismatch) }
        BLAS.setThreadCount(threads ?? 1)
        do {
            try withoutActuallyEscaping(body) { escapable in
                nonisolated(unsafe) let run = escapable
                // Blocking calls wait for other ranks' units, which may take long: no practical timeout.
                _ = try ThreadGroup.run(size: workers, timeout: 30 * 24 * 3600) { comm in try run(comm, nil) }
            }
        } catch let e as ExitCode {
            throw e
        } catch {
            FileHandle.standardError.write(Data("equicert: error: \(describe(error))\n".utf8))
            throw ExitCode(1)
        }
        return
    }
    // `--workers 1` is one in-process rank with one OpenBLAS thread, like every in-process rank (it used to keep
    // OpenBLAS's default of one thread per core, whose idle threads spin in sched_yield between the small GEMMs).
    let threads = threads ?? (workers == 1 && !MPIEnvironment.launchedByMPI ? 1 : nil)
    let comm: any Communicator, sites: [RankSite]?
    do { (comm, sites) = try makeCommunicator(choice, threads: threads) } catch {
        FileHandle.standardError.write(Data("equicert: error: \(describe(error))\n".utf8))
        throw ExitCode(1)
    }
    try finishOrAbort(comm) {
        if let mismatch = MPIEnvironment.worldSizeMismatch(actual: comm is SingleProcessCommunicator ? 1 : comm.size) {
            throw CoordinatorError.mismatch(mismatch)
        }
        guard let parking, let sites, let world = comm as? MPICommunicator else { return try body(comm, nil) }
        let plan = RankParking.plan(sites: sites, useAllRanks: parking.useAllRanks)
        if comm.rank == 0 && parking.announce, let note = parkingNote(plan) { writeToStandardError(note) }
        guard !plan.parked.isEmpty else { return try body(comm, plan.reason == nil ? nil : plan) }
        let releaseTag = 1
        guard let group = try world.subgroup(plan.active) else {
            // Parked: no work, only a cheap wait (a blocking receive would spin a core in Open MPI).
            var pause: UInt32 = 1_000
            while try world.tryReceive(from: 0, tag: releaseTag) == nil {
                usleep(pause)
                pause = Swift.min(pause * 2, 100_000)
            }
            return
        }
        try body(group, plan)
        try group.finalize()
        if comm.rank == 0 { for r in plan.parked { try world.send([], to: r, tag: releaseTag) } }
    }
}
