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

    /// When the launcher announced another number of processes than the job really has (`actual`: the MPI world
    /// size, or 1 for a process that is no MPI rank), a one-line description naming the variable; nil when all agree.
    /// Catches ranks that did not join one world (srun without PMI support, a stale variable), each of which would
    /// otherwise run the whole job alone. `SLURM_NTASKS` is compared only for a task of an srun step
    /// (`SLURM_STEP_NUM_TASKS` set): an sbatch/salloc shell announces its allocation, where one process is fine.
    public static func worldSizeMismatch(actual: Int, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        var keys = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"]
        if environment["SLURM_STEP_NUM_TASKS"] != nil { keys.append("SLURM_NTASKS") }
        for key in keys {
            guard let text = environment[key], let n = Int(text), n != actual else { continue }
            return
                "the launcher announced \(n) processes (\(key)=\(text)) but this process is \(actual == 1 ? "alone (no MPI world joined)" : "in an MPI world of \(actual)"): "
                + "launch with mpirun, or srun with MPI support (--mpi=pmix), and one equicert per task"
        }
        return nil
    }

    /// The world size the launcher announced (`OMPI_COMM_WORLD_SIZE` or `PMI_SIZE`), if any.
    public static func announcedWorldSize(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int? {
        for key in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"] {
            if let text = environment[key], let n = Int(text), n >= 1 { return n }
        }
        return nil
    }
}
