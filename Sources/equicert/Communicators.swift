import ArgumentParser
import Distributed
import DistributedMPI
import Foundation
import TensorCore

/// Which communicator a job runs on (only the executable chooses; see architecture.md).
enum DistributedChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, off, mpi
}

/// Pick the communicator: MPI when launched by mpirun/srun (auto) or asked for (mpi), else a single process.
/// With MPI and ranks filling the cores, OpenBLAS runs one thread per rank.
func makeCommunicator(_ choice: DistributedChoice, threads: Int?) throws -> any Communicator {
    let comm: any Communicator
    switch choice {
    case .off: comm = SingleProcessCommunicator()
    case .mpi: comm = try MPICommunicator()
    case .auto: comm = MPIEnvironment.launchedByMPI ? try MPICommunicator() : SingleProcessCommunicator()
    }
    if let threads { BLAS.setThreadCount(threads) }
    else if comm.size > 1 {
        // Ranks on this node share its cores: one BLAS thread each unless there are spare cores.
        let local = Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? comm.size
        BLAS.setThreadCount(max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, local)))
    }
    return comm
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
        if comm.size > 1 { comm.abort(message: "\(error)", code: 1) }
        FileHandle.standardError.write(Data("equicert: error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}
