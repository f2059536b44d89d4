// How a process learns that a launcher (mpirun, srun) started it.
import Foundation

/// Facts about the MPI launch environment, read without initializing MPI.
public enum MPIEnvironment {
    /// Environment variables set by Open MPI's `mpirun` (`OMPI_COMM_WORLD_SIZE`) or a PMI/PMIx launcher
    /// such as Slurm's `srun` (`PMI_SIZE`, `PMIX_RANK`).
    public static let launcherVariables = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"]

    /// True when this process was started by an MPI launcher (see `launcherVariables`).
    public static var launchedByMPI: Bool {
        launchedByMPI(environment: ProcessInfo.processInfo.environment)
    }

    /// True when `environment` holds any of `launcherVariables`.
    public static func launchedByMPI(environment: [String: String]) -> Bool {
        launcherVariables.contains { environment[$0] != nil }
    }

    /// The world size the launcher announced (`OMPI_COMM_WORLD_SIZE` or `PMI_SIZE`), if any.
    public static func announcedWorldSize(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int? {
        for key in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"] {
            if let text = environment[key], let n = Int(text), n >= 1 { return n }
        }
        return nil
    }
}
