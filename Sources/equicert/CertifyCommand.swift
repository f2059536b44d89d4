import ArgumentParser
import Certification
import Coordinator
import Distributed
import DistributedMPI
import Equilibrium
import Foundation
import Reports

/// `equicert certify`: randomized smoothing (standard or SRS) of a DEQ on a test split, on any number of ranks.
/// Rows in Cohen's TSV format, flushed as each image finishes, and a JSON manifest beside the report.
struct CertifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certify",
        abstract: "Certify L2 robustness by randomized smoothing (standard or serialized) of a DEQ checkpoint.")

    @OptionGroup var o: SmoothingOptions

    func run() throws {
        try runDistributed(o.distributed, threads: o.threads, workers: o.inProcessWorkers(), parking: o.parkingChoice) { comm, parking in
            // Options first: nothing is read or written before they are valid.
            var settings = try o.runSettings(forPredict: false)
            settings.parking = parking
            if settings.shard != nil && comm is MPICommunicator {
                throw CoordinatorError.invalidOption(name: "shard", value: o.shard!, reason: "use either --shard or mpirun, not both")
            }
            guard let s = try CertifyReportJob(settings).run(on: comm) else { return }
            printFlushed(
                String(
                    format: "certified %d images (%d correct, %d abstained) in %.1f s on %d rank(s)%@: %.0f samples/s → %@",
                    s.certified, s.correct, s.abstained, s.wallSeconds, s.worldSize,
                    s.parkedRanks > 0 ? " (\(s.parkedRanks) parked)" : "", s.samplesPerSecond, o.out))
        }
    }
}

/// Options shared by `certify` and `predict`.
/// Numeric options parse their value unconditionally, so a negative one needs no `=` (`--max -1` reaches
/// `validate()` and its message instead of "missing value").
struct SmoothingOptions: ParsableArguments {
    @Option(help: "DEQ-S, MDEQ or ViT checkpoint (default: the embedded Fashion-MNIST σ=0.25 model).") var model: String?
    @Option(help: "Data set: mnist, fashion-mnist, mnist-32x32x3 or cifar10 (default: the checkpoint's).") var data: String?
    @Option(help: "Directory of the data set's files (default: searched: ../shared/data, $EQUICERT_DATA, data/).") var dataDir: String?
    @Option(help: "Split (test).") var split: SmoothingRunSettings.Split = .test
    @Option(parsing: .unconditional, help: "Certify every k-th image.") var skip: Int = 20
    @Option(parsing: .unconditional, help: "At most this many images (0 = all selected).") var max: Int = 500
    @Option(parsing: .unconditional, help: "Noise σ.") var sigma: Float = 0.25
    @Option(parsing: .unconditional, help: "Selection samples n0.") var n0: Int = 100
    @Option(parsing: .unconditional, help: "Estimation samples n.") var n: Int = 10_000
    @Option(parsing: .unconditional, help: "Failure probability α.") var alpha: Double = 0.001
    @Option(help: "srs or standard.") var mode: SmoothingMode = .srs
    @Option(help: "Solver of every sample (standard) or serialized step (srs): naive, anderson, broyden.") var solver: SolverKind = .anderson
    @Option(parsing: .unconditional, help: "Solver steps (S for srs, D for standard).") var steps: Int = 1
    @Option(parsing: .unconditional, help: "SRS warm-up (step 0 of each chain) steps, with Anderson.") var warmupSteps: Int = 10
    @Option(
        help: ArgumentHelp(
            "SRS: the audit's cumulative stage sizes (from-zero re-solves of uniformly drawn estimation samples); a later stage runs only where the previous one limits p̲A. The paper and reference-code radii use the first stage as their K checks.",
            valueName: "K1,K2,…"))
    var audit: String?
    @Option(
        parsing: .unconditional, help: "SRS: escalate to the next audit stage where N_A ≥ this share of n (0.5: every image with a majority for ĉA).")
    var auditEscalation: Double = 0.5
    @Option(
        help:
            "SRS: the base classifier's solver (from zero; the classifier certified, also used for selection and the audit): naive, anderson, broyden."
    )
    var baseSolver: SolverKind = .anderson
    @Option(parsing: .unconditional, help: "SRS: the base classifier's maximum solver steps.") var baseMaxSteps: Int = 30
    @Option(parsing: .unconditional, help: "SRS: the base classifier stops a sample at this relative residual (0: always run every step).")
    var baseTolerance: Float = 1e-3
    @Option(
        parsing: .unconditional,
        help:
            "Stop a solve early when a sample's relative residual is below this (0: always run all steps): the standard-mode classifier, SRS's warm-up and serialized steps."
    )
    var tolerance: Float = 0
    @Option(
        help:
            "Radius: audit (srs default, sound under chain dependence), paper or reference-code (srs, for comparison: not proven under dependence), cohen (standard)."
    )
    var radius: RadiusEstimator?
    @Option(parsing: .unconditional, help: "Chains per (image, phase).") var chains: Int = 400
    @Option(parsing: .unconditional, help: "Chains per block (the batch of every unit of work).") var chainsPerBlock: Int = 50
    @Option(help: "Seed of the noise.") var seed: UInt64 = 0
    @Option(name: .shortAndLong, help: "Report path (.tsv); the manifest goes beside it (.json).") var out: String
    @Option(help: "Run only shard i of n of the images (i/n, from 0), without MPI.") var shard: String?
    @Flag(help: "Continue a run from its report and manifest, skipping finished images.") var resume = false
    @Flag(help: "Replace an existing report and the files beside it (without it, or --resume, existing outputs are refused).")
    var force = false
    @Option(help: "auto (MPI when launched by mpirun), off, or mpi.") var distributed: DistributedChoice = .auto
    @Option(parsing: .unconditional, help: "OpenBLAS threads per rank.") var threads: Int?
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Without MPI: in-process ranks, one OpenBLAS thread each (default: one per core, or 1 with --threads).",
            valueName: "n")) var workers: Int?
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Abort the job when a rank holding work sends nothing for this many seconds (a stopped or hung rank).", valueName: "seconds"))
    var stallTimeout: Double = WorkQueue.defaultStallTimeout
    @Flag(
        help:
            "Under MPI, give work to every rank even where a host runs more ranks than it has cores (by default only as many as its cores work, the others wait)."
    )
    var useAllRanks = false
    @Flag(help: "No progress bar.") var quiet = false
    @OptionGroup var attention: AttentionOptions
}

extension SmoothingOptions {
    /// Checks of single options, before anything runs (the configuration as a whole is checked by
    /// `SmoothingConfiguration.validate`).
    func validate() throws {
        guard skip >= 1 else { throw ValidationError("invalid --skip \(skip): must be ≥ 1") }
        guard max >= 0 else { throw ValidationError("invalid --max \(max): must be ≥ 0") }
        for (name, steps) in [("steps", steps), ("warmup-steps", warmupSteps), ("base-max-steps", baseMaxSteps)] where steps < 1 {
            throw ValidationError("invalid --\(name) \(steps): must be ≥ 1")
        }
        for tol in [tolerance, baseTolerance] where !(tol >= 0 && tol.isFinite) {
            throw ValidationError("invalid --tolerance \(tol): must be ≥ 0")
        }
        if resume && force { throw ValidationError("--resume and --force exclude each other: continue the report or replace it") }
        if let workers, workers < 1 { throw ValidationError("invalid --workers \(workers): must be ≥ 1") }
        guard stallTimeout > 0 && stallTimeout.isFinite else { throw ValidationError("invalid --stall-timeout \(stallTimeout): must be > 0 seconds") }
        if let threads, threads < 1 { throw ValidationError("invalid --threads \(threads): must be ≥ 1") }
        if audit != nil && mode == .standard {
            throw ValidationError(
                "invalid --audit \(audit!): standard mode has no audit: every sample is already a from-zero solve of the base classifier")
        }
        _ = try auditStages()
    }

    /// The flag that sets a `SmoothingConfiguration` field (`CertificationError` names fields, not flags).
    static func flag(forSetting name: String) -> String {
        let flags = [
            "chainsPerBlock": "chains-per-block", "auditStages": "audit", "auditEscalation": "audit-escalation",
            "warmupSolver": "warmup-steps", "baseSolver": "base-solver",
        ]
        return flags[name] ?? name
    }

    /// Parking of ranks beyond a host's cores (`--use-all-ranks` turns it off; `--quiet` silences its note).
    var parkingChoice: ParkingChoice { ParkingChoice(useAllRanks: useAllRanks, announce: !quiet) }

    /// In-process ranks when not under MPI: `--workers`, else one per core unless `--threads` asks for BLAS threads.
    func inProcessWorkers() -> Int {
        workers ?? (threads == nil ? Swift.max(1, ProcessInfo.processInfo.activeProcessorCount) : 1)
    }

    func solverConfig(_ kind: SolverKind, _ steps: Int, tolerance: Float) -> SolverConfig {
        SolverConfig(kind: kind, maxSteps: steps, tolerance: tolerance, stopMode: .relative)
    }

    /// `--audit 400,2000` → [400, 2000] (nil: SRS's default 400, 2000; none in standard mode).
    func auditStages() throws -> [Int] {
        guard let audit else { return mode == .srs ? [400, 2_000] : [] }
        let parts = audit.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        return try parts.map { p in
            guard let k = Int(p) else { throw ValidationError("invalid --audit \(audit): expected stage sizes such as 400,2000") }
            return k
        }
    }

    /// The settings of a certify or predict run: the validated configuration, the shard, the model path.
    func runSettings(forPredict: Bool) throws -> SmoothingRunSettings {
        let config = try smoothingConfiguration(forPredict: forPredict)
        let spec = try shard.map { try ShardSpec(parsing: $0) }
        var s = SmoothingRunSettings(
            model: try model ?? EmbeddedModels.defaultCertificationModel(), configuration: config,
            output: out, attention: try attention.settings(),
            calibrationCount: attention.calibrationExamples)
        s.data = data; s.dataDirectory = dataDir
        s.split = split
        s.skip = skip; s.max = max
        s.shardText = shard; s.shard = spec
        s.resume = resume; s.force = force; s.showProgress = !quiet; s.stallTimeout = stallTimeout
        s.command = commandLine()
        return s
    }

    /// The validated smoothing configuration (PREDICT: standard mode only).
    func smoothingConfiguration(forPredict: Bool) throws -> SmoothingConfiguration {
        let config = SmoothingConfiguration(
            sigma: sigma, n0: n0, n: n, alpha: alpha, mode: mode,
            solver: solverConfig(solver, steps, tolerance: tolerance),
            warmupSolver: solverConfig(.anderson, warmupSteps, tolerance: tolerance),
            baseSolver: solverConfig(baseSolver, baseMaxSteps, tolerance: baseTolerance),
            auditStages: try auditStages(), auditEscalation: auditEscalation,
            chains: chains, chainsPerBlock: chainsPerBlock, radius: radius ?? .default(for: mode),
            seed: seed)
        if forPredict && mode == .srs {
            throw CoordinatorError.invalidOption(
                name: "mode", value: "srs",
                reason:
                    "PREDICT's binomial test needs independent samples and serialized predictions are not; use predict --mode standard (the base classifier from zero), or certify --mode srs, whose predict column is sound (the audit)"
            )
        }
        try config.validate()
        return config
    }
}

/// Locating the checkpoints shipped in Models/.
enum EmbeddedModels {
    static let defaultName = "deq-s-fashion-mnist-sigma0.25.safetensors"

    /// Models/<default> next to the working directory or the executable's package.
    static func defaultCertificationModel() throws -> String {
        var candidates = [FileManager.default.currentDirectoryPath + "/Models/" + defaultName]
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(dir.appendingPathComponent("Models/" + defaultName).path)
            dir.deleteLastPathComponent()
        }
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
        throw CoordinatorError.checkpoint(path: "Models/" + defaultName, reason: "embedded default model not found (pass --model)")
    }
}
