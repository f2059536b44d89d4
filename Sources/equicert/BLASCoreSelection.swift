import Foundation
import TensorCore

/// OpenBLAS picks its kernels from the CPU model when it is loaded. Debian 12's OpenBLAS 0.3.21 does not know newer
/// Intel models (e.g. family 6 model 207, an Emerald Rapids Xeon under KVM) and falls back to its generic "Prescott"
/// SSE3 kernels: sgemm 20 GFLOP/s instead of 95–120 (SkylakeX) on one core of such a machine. When that happens
/// (`BLAS.recognisedCoreType`) and `OPENBLAS_CORETYPE` is unset, this process is executed once more with
/// `OPENBLAS_CORETYPE` set (OpenBLAS reads it only at load time, hence the exec; it happens before MPI is
/// initialised). Setting `OPENBLAS_CORETYPE` yourself (any value, e.g. `Prescott`) turns this off.
enum BLASCoreSelection {
    /// Set in the re-executed process (to the core chosen), so it does not loop and `info` can say so.
    static let marker = "EQUICERT_BLAS_CORE_CHOSEN"

    /// The flags of the first processor in /proc/cpuinfo (empty where there is none).
    static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
            let colon = line.firstIndex(of: ":")
        else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// Re-executes the process with a recognised core when OpenBLAS fell back to Prescott; returns otherwise.
    static func reexecIfNeeded() {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env[marker] == nil,
            let core = BLAS.recognisedCoreType(detected: BLAS.coreName, cpuFlags: cpuFlags())
        else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(marker, core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OPENBLAS_CORETYPE")  // exec failed (no /proc): go on with the detected kernels
    }
}
