import ArgumentParser
import Foundation
import TensorCore

BLASCoreSelection.reexecIfNeeded()
// Batch-sized solver buffers are reused from the heap instead of mapped afresh each step (TensorCore).
AllocationPolicy.keepBuffersResident()
// Parse errors are one line too (`equicert: error: …`), like every other bad input; help and version requests
// print as ArgumentParser formats them.
do {
    var command = try EquicertCommand.parseAsRoot()
    try command.run()
} catch {
    let code = EquicertCommand.exitCode(for: error)
    if code.isSuccess || error is ExitCode { EquicertCommand.exit(withError: error) }
    let message = EquicertCommand.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
    FileHandle.standardError.write(Data("equicert: error: \(message)\n".utf8))
    Foundation.exit(code.rawValue)
}
