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

    static func run(_ path: String, _ arguments: [String]) -> (status: Int32, output: String)? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
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
}
