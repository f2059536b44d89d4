import Foundation
import Testing

@testable import Distributed
@testable import DistributedMPI

@Suite struct MPIEnvironmentTests {
    @Test func detectsLaunchers() {
        #expect(!MPIEnvironment.launchedByMPI(environment: ["PATH": "/usr/bin"]))
        #expect(MPIEnvironment.launchedByMPI(environment: ["OMPI_COMM_WORLD_SIZE": "2"]))
        #expect(MPIEnvironment.launchedByMPI(environment: ["PMI_SIZE": "4"]))
        #expect(MPIEnvironment.launchedByMPI(environment: ["PMIX_RANK": "0"]))
        #expect(MPIEnvironment.announcedWorldSize(environment: ["OMPI_COMM_WORLD_SIZE": "3"]) == 3)
        #expect(MPIEnvironment.announcedWorldSize(environment: ["PMI_SIZE": "x"]) == nil)
    }

    @Test("a launcher-announced world size other than the real one is named; SLURM_NTASKS only in an srun step")
    func worldSizeMismatch() {
        #expect(MPIEnvironment.worldSizeMismatch(actual: 2, environment: ["OMPI_COMM_WORLD_SIZE": "2", "PMI_SIZE": "2"]) == nil)
        #expect(MPIEnvironment.worldSizeMismatch(actual: 1, environment: [:]) == nil)
        #expect(
            MPIEnvironment.worldSizeMismatch(actual: 1, environment: ["PMI_SIZE": "4"])?.hasPrefix(
                "the launcher announced 4 processes (PMI_SIZE=4) but this process is alone") == true)
        #expect(MPIEnvironment.worldSizeMismatch(actual: 3, environment: ["OMPI_COMM_WORLD_SIZE": "2"])?.contains("in an MPI world of 3") == true)
        // An sbatch/salloc shell announces its allocation; one process there is fine. A task of an srun step is not.
        #expect(MPIEnvironment.worldSizeMismatch(actual: 1, environment: ["SLURM_NTASKS": "4"]) == nil)
        #expect(
            MPIEnvironment.worldSizeMismatch(actual: 1, environment: ["SLURM_NTASKS": "2", "SLURM_STEP_NUM_TASKS": "2"])?
                .contains("(SLURM_NTASKS=2)") == true)
    }

    @Test func errorsNameTheFunction() {
        let e = DistributedMPIError.call(function: "MPI_Allreduce", code: 5, message: "MPI_ERR_COUNT: invalid count argument")
        #expect(e.description == "MPI_Allreduce failed (MPI error 5): MPI_ERR_COUNT: invalid count argument")
    }

    @Test func libraryVersionNeedsNoInitialization() {
        #expect(MPICommunicator.libraryVersion().contains("Open MPI") || MPICommunicator.libraryVersion().contains("MPI"))
    }
}

/// Runs the real MPI communicator under `mpirun`, through the `equicert mpi-selftest` subcommand, when the
/// built executable has it (the test process itself never initializes MPI).
@Suite struct MPIRunTests {
    static let productsDirectory: URL = {
        #if os(Linux)
            if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
                return URL(fileURLWithPath: exe).deletingLastPathComponent()
            }
        #endif
        return Bundle.main.bundleURL.deletingLastPathComponent()
    }()

    static let executable = productsDirectory.appendingPathComponent("equicert")
    static let mpirun = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static func run(_ path: String, _ arguments: [String], in directory: URL? = nil) -> (status: Int32, output: String)? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        if let directory { p.currentDirectoryURL = directory }
        var env = ProcessInfo.processInfo.environment.filter { key, _ in
            !["OMPI_", "PMIX_", "PMI_", "ORTE_", "OPAL_"].contains { key.hasPrefix($0) }
        }
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["OMPI_MCA_mpi_yield_when_idle"] = "1"
        env["OPENBLAS_NUM_THREADS"] = "1"
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        do { try p.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static let hasSelfTest: Bool = {
        guard mpirun != nil, FileManager.default.isExecutableFile(atPath: executable.path) else { return false }
        return run(executable.path, ["mpi-selftest", "--help"])?.status == 0
    }()

    @Test(.enabled(if: hasSelfTest, "needs mpirun and the equicert mpi-selftest subcommand"), arguments: [2, 3])
    func selfTestPassesUnderMpirun(ranks: Int) throws {
        let result = try #require(
            Self.run(
                Self.mpirun!,
                [
                    "-np", "\(ranks)", "--oversubscribe", "--timeout", "60", Self.executable.path, "mpi-selftest",
                ]))
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("mpi-selftest: OK size=\(ranks) "), "\(result.output)")
    }

    /// The package root (for Models/ and the data search, which starts at ../shared/data).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let model = packageRoot.appendingPathComponent("Models/deq-s-fashion-mnist-sigma0.25.safetensors")
    static let canCertify = hasSelfTest && FileManager.default.fileExists(atPath: model.path)

    /// A 2-image certify (SRS, tiny n) under `mpirun -np ranks`; the report's rows without the time column, and the
    /// manifest. Under mpirun's own 120 s timeout.
    static func certify(ranks: Int, _ extra: [String], out: URL) throws -> (rows: [String], manifest: [String: Any], output: String) {
        let arguments = [
            "--oversubscribe", "--timeout", "120", "-np", "\(ranks)", executable.path, "certify", "--model", model.path,
            "--skip", "500", "--max", "2", "--n0", "20", "--n", "200", "--audit", "40", "--chains", "20",
            "--chains-per-block", "10", "--steps", "1", "--warmup-steps", "4", "--base-max-steps", "4", "--alpha", "0.01",
            "--out", out.path,
        ]
        let result = try #require(run(mpirun!, arguments + extra, in: packageRoot))
        try #require(result.status == 0, "mpirun -np \(ranks) certify: \(result.output)")
        let text = try String(contentsOf: out, encoding: .utf8)
        let rows = text.split(separator: "\n").map { $0.split(separator: "\t").prefix(5).joined(separator: "\t") }
        let json = try Data(contentsOf: out.deletingPathExtension().appendingPathExtension("json"))
        return (rows, try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any]), result.output)
    }

    @Test(
        "6 ranks on a host with fewer cores: only `cores` ranks work, the manifest names the parked ones, the report is the 2-rank one",
        .enabled(if: canCertify, "needs mpirun, the equicert executable and Models/"), .timeLimit(.minutes(5)))
    func oversubscribedRanksAreParked() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("eqc-parking-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let two = try Self.certify(ranks: 2, ["--quiet"], out: dir.appendingPathComponent("np2.tsv"))
        #expect(two.manifest["parkedRanks"] == nil && two.manifest["worldSize"] as? Int == 2)
        #expect(two.rows.count == 3)

        // mpirun --oversubscribe binds no rank, so each sees the host's CPUs (this process's, too).
        let cores = RankSite.current(rank: 0).cpus.count
        let six = try Self.certify(ranks: 6, [], out: dir.appendingPathComponent("np6.tsv"))
        #expect(six.rows == two.rows)
        #expect(six.manifest["worldSize"] as? Int == 6)
        if cores < 6 {
            #expect(six.manifest["activeRanks"] as? Int == cores)
            #expect(six.manifest["parkedRanks"] as? Int == 6 - cores)
            #expect(six.manifest["parked"] as? String == RankParking.describe(Array(cores..<6)))
            #expect((six.manifest["oversubscription"] as? String)?.hasSuffix(": 6 ranks on \(cores) core\(cores == 1 ? "" : "s")") == true)
            let worked = (six.manifest["ranks"] as? [[String: Any]] ?? []).compactMap { $0["rank"] as? Int }
            #expect(worked == Array(0..<cores))
            #expect(six.output.contains("6 ranks on \(cores) core"), "\(six.output)")
            #expect(six.output.contains("ranks \(RankParking.describe(Array(cores..<6))) parked"), "\(six.output)")
        } else {
            #expect(six.manifest["parkedRanks"] == nil && !six.output.contains("parked"))
        }
        #expect(!two.output.contains("parked"))

        // --use-all-ranks: nobody parked, same report.
        let all = try Self.certify(ranks: 6, ["--use-all-ranks", "--quiet"], out: dir.appendingPathComponent("all.tsv"))
        #expect(all.rows == two.rows)
        #expect((all.manifest["ranks"] as? [Any])?.count == 6)
        if cores < 6 { #expect(all.manifest["parkedRanks"] as? Int == 0 && all.manifest["activeRanks"] as? Int == 6) }
        #expect(!all.output.contains("ranks on"), "--quiet: no note on stderr")
    }
}
