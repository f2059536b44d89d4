import ArgumentParser
import Coordinator
import Datasets
import DistributedMPI
import Foundation
import TensorCore

/// `equicert info`: versions, BLAS core and threads, data sets found, MPI availability.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Versions, BLAS core and threads, data sets found, MPI availability.")

    func run() throws {
        print("equicert \(EquicertVersion.string)")
        #if swift(>=6.3)
            print("Swift: 6.3 or later")
        #else
            print("Swift: 6.x")
        #endif
        let chosen =
            ProcessInfo.processInfo.environment[BLASCoreSelection.marker] != nil
            ? " (chosen by equicert: OpenBLAS fell back to Prescott on this CPU)" : ""
        print(
            "BLAS: OpenBLAS, core \(BLAS.coreName)\(chosen), \(BLAS.threadCount) thread(s) [\(BLAS.configuration.trimmingCharacters(in: .whitespaces))]"
        )
        print("cores: \(ProcessInfo.processInfo.activeProcessorCount)")
        print(
            "direct-convolution kernel: \(Conv2D.directKernelName) (available: "
                + "\(DirectConvKernel.allCases.filter(\.isAvailable).map(\.rawValue).joined(separator: ", "))"
                + "; \(DirectConvKernel.environmentVariable)=avx2|avx512 forces one)")
        print(
            "MPI: \(MPICommunicator.libraryVersion().split(separator: "\n").first.map(String.init) ?? "unknown"); "
                + (MPIEnvironment.launchedByMPI
                    ? "launched by mpirun (world size \(MPIEnvironment.announcedWorldSize() ?? 0))"
                    : "not launched by mpirun (single process)"))
        let mpirun = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }
        print("mpirun: \(mpirun ?? "not found (apt-get install openmpi-bin)")")
        let locator = DataLocator.process
        for name in ["mnist", "fashion-mnist", "text", "minilm"] {
            if let url = try? locator.locate(name) {
                print("data \(name): \(url.path)")
            } else {
                print("data \(name): not found (run Scripts/setup-data)")
            }
        }
    }
}
