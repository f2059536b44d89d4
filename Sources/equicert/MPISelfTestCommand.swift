import ArgumentParser
import Distributed
import DistributedMPI

/// `equicert mpi-selftest`: exercises every collective, point-to-point messages and the work queue over MPI
/// (run under `mpirun`; as a single process it is rank 0 of 1). Used by `Scripts/mpi-smoke`.
struct MPISelfTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpi-selftest",
        abstract: "Check the MPI communicator: collectives, messages, work queue (run under mpirun).")
    @Option(help: "Abort the job from this rank (checks that an error on one rank ends the whole job).")
    var abortOnRank: Int?

    func run() throws {
        let comm: MPICommunicator
        do { comm = try MPICommunicator() } catch {
            writeToStandardError("equicert: \(error)")
            throw ExitCode(1)
        }
        if let r = abortOnRank, r == comm.rank {
            comm.abort(message: "abort requested by --abort-on-rank \(r)", code: 3)
        }
        do {
            let line = try runMPISelfTest(comm: comm)
            if comm.rank == 0 { print(line) }
            try comm.finalize()
        } catch {
            comm.abort(message: "\(error)", code: 1)
        }
    }
}
