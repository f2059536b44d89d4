import ArgumentParser
import TensorCore

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Versions, BLAS, data sets, MPI.")
    func run() throws {
        print("BLAS: \(BLAS.coreName), threads \(BLAS.threadCount)")
    }
}
