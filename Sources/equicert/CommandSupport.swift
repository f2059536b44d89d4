import ArgumentParser
import Foundation
import TensorCore

/// Run a command body; bad input becomes one clear line on standard error and exit code 1.
func runReportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ExitCode { throw e } catch let e as CleanExit { throw e } catch {
        FileHandle.standardError.write(Data("equicert: error: \(describe(error))\n".utf8))
        throw ExitCode(1)
    }
}

/// The command line as typed (for checkpoint and manifest provenance).
func commandLine() -> String {
    CommandLine.arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
}

func setBLASThreads(_ n: Int) { BLAS.setThreadCount(max(1, n)) }

/// Print a line to standard output immediately (unbuffered even when stdout is a file or pipe).
func printFlushed(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
