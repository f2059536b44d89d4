import ArgumentParser
import Foundation
import Reports
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

/// Before any work: no output is one of the inputs (real paths), and an existing output is refused unless `force`
/// (or, where the command continues outputs, `resume`). Nil entries (options not given) are skipped.
func guardOutputs(_ outputs: [String?], inputs: [String?], force: Bool, resume: Bool = false, resumeFlag: String? = nil) throws {
    try OutputGuard.check(
        outputs: outputs.compactMap { $0 }, inputs: inputs.compactMap { $0 },
        existing: resume ? .resume : force ? .replace : .refuse, resumeFlag: resumeFlag)
}

/// `x.safetensors` → `x` + `suffix` (other names: the whole name + `suffix`), as the jobs name the files beside an output.
func beside(_ output: String, dropping ext: String, adding suffix: String) -> String {
    (output.hasSuffix(ext) ? String(output.dropLast(ext.count)) : output) + suffix
}

func setBLASThreads(_ n: Int) { BLAS.setThreadCount(max(1, n)) }

/// Print a line to standard output immediately (unbuffered even when stdout is a file or pipe).
func printFlushed(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
