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
    static let configuration = CommandConfiguration(commandName: "certify",
        abstract: "Certify L2 robustness by randomized smoothing (standard or serialized) of a DEQ checkpoint.")

    @OptionGroup var o: SmoothingOptions

    func run() throws {
        try runDistributed(o.distributed, threads: o.threads, workers: try o.inProcessWorkers()) { try certify($0) }
    }

    func solverConfig(_ name: String, _ steps: Int, option: String) throws -> SolverConfig {
        guard o.steps >= 1 else { throw CoordinatorError.invalidOption(name: option, value: "\(o.steps)", reason: "must be ≥ 1") }
        return SolverConfig(kind: try SolverKind(parsing: name), maxSteps: o.steps, tolerance: o.tolerance, stopMode: .relative)
    }

    func certify(_ comm: any Communicator) throws {
        let started = Date()
        // Options first: nothing is read or written before they are valid.
        let config = try o.smoothingConfiguration(forPredict: false)
        let spec = try o.shard.map { try ShardSpec(parsing: $0) }
        if spec != nil && comm is MPICommunicator {
            throw CoordinatorError.invalidOption(name: "shard", value: o.shard!, reason: "use either --shard or mpirun, not both")
        }
        let modelPath = try o.model ?? EmbeddedModels.defaultCertificationModel()
        let target = try SmoothingTarget(checkpoint: modelPath, data: o.data, attention: try o.attention.settings(),
                                         calibrationCount: o.attention.calibrationExamples)
        // The smoothing is built before any file is touched: a ViT with --mode srs fails here, leaving nothing.
        switch target.model {
        case .deq(let m):
            try certify(comm, smoothing: try Smoothing(model: EquilibriumClassifier(m), configuration: config), target: target,
                        config: config, spec: spec, modelPath: modelPath, started: started)
        case .vit(let c):
            try certify(comm, smoothing: try Smoothing(model: c, configuration: config), target: target,
                        config: config, spec: spec, modelPath: modelPath, started: started)
        }
    }

    func certify<C: SmoothableClassifier>(_ comm: any Communicator, smoothing: Smoothing<C>, target: SmoothingTarget,
                                          config: SmoothingConfiguration, spec: ShardSpec?, modelPath: String, started: Date) throws {
        let smoothingMode = config.mode, estimator = config.radius
        let dataset = o.split == "test" ? target.test : try target.source.load(split: .train)
        let manifestPath = RunManifest.path(forReport: o.out)
        var done = Set<Int>()
        var previousCosts: [RunManifest.ImageCost] = []
        let writer: ReportWriter?
        var costLog: ImageCostLog?
        if comm.rank == 0 {
            let parent = URL(fileURLWithPath: o.out).deletingLastPathComponent()
            try? FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
            try ReportWriter.checkWritable(path: o.out)
            if o.resume {
                if FileManager.default.fileExists(atPath: manifestPath) {
                    let old = try RunManifest.read(manifestPath)
                    guard old.configuration == config, old.model == modelPath, old.skip == o.skip, old.max == o.max,
                          old.shard == o.shard, old.data == target.source.rawValue else {
                        throw CoordinatorError.invalidOption(name: "resume", value: o.out,
                            reason: "the run in \(manifestPath) used other settings; resume needs the same command")
                    }
                    previousCosts = old.images
                }
                let log = try ImageCostLog(path: ImageCostLog.path(forReport: o.out), resume: true)
                let logged = Set(log.entries.map(\.index))
                previousCosts = previousCosts.filter { !logged.contains($0.index) } + log.entries
                costLog = log
                let w = try ReportWriter(path: o.out, mode: .resume)
                done = w.completedIndices
                // Costs are kept only for images whose rows are kept (a logged image without a row is redone).
                previousCosts = previousCosts.filter { done.contains($0.index) }.sorted { $0.index < $1.index }
                writer = w
            } else {
                writer = try ReportWriter(path: o.out, mode: .replace)
                costLog = try ImageCostLog(path: ImageCostLog.path(forReport: o.out), resume: false)
            }
        } else {
            writer = nil
        }
        // Every rank needs the same image list: the root's view of finished images is broadcast.
        var doneWords = done.sorted().map(Int64.init)
        var countWord: [Int64] = [Int64(doneWords.count)]
        try comm.broadcast(&countWord, root: 0)
        if comm.rank != 0 { doneWords = Array(repeating: 0, count: Int(countWord[0])) }
        try comm.broadcast(&doneWords, root: 0)
        done = Set(doneWords.map(Int.init))

        let images = CertifyImages.selectImages(count: dataset.count, skip: o.skip, max: o.max, shard: spec?.index ?? 0,
                                             shards: spec?.count ?? 1, done: done)
        let job = CertifyJob(smoothing: smoothing, data: dataset, images: images)

        var manifest = RunManifest(version: EquicertVersion.string, status: "running", command: commandLine(), model: modelPath,
                                   modelMetadata: target.metadata,
                                   data: target.source.rawValue, split: o.split, skip: o.skip, max: o.max, shard: o.shard,
                                   configuration: config,
                                   radiusEstimator: smoothingMode == .standard ? "cohen" : estimator.rawValue,
                                   worldSize: comm.size, wallSeconds: 0, imagesCertified: done.count, samplesPerSecond: 0,
                                   ranks: [], busySecondsMin: 0, busySecondsMedian: 0, busySecondsMax: 0,
                                   rootAggregationSeconds: 0, images: previousCosts)
        if comm.rank == 0 { try manifest.write(to: manifestPath) }

        let bar = ProgressBar(label: "certify", total: images.count, unit: "img", enabled: comm.rank == 0 && !o.quiet)
        var certified = 0, samples: Int64 = 0, rootSeconds = 0.0, abstained = 0, correct = 0
        let report = try job.run(on: comm) { r in
            let t0 = Date()
            let cert = r.certificate
            let row = cert.abstained
                ? CertificationRow.abstention(index: r.index, label: r.label, seconds: r.seconds)
                : CertificationRow(index: r.index, label: r.label, prediction: cert.prediction, radius: cert.radius, seconds: r.seconds)
            let cost = RunManifest.ImageCost(index: r.index,
                                             sampleEvaluations: r.selection.sampleEvaluations + r.estimation.sampleEvaluations,
                                             divergedSamples: r.selection.divergedSamples + r.estimation.divergedSamples,
                                             computeSeconds: r.seconds, agreement: cert.agreement, pALower: cert.pALower,
                                             selectedClass: r.selection.topClass,
                                             estimationCounts: r.estimation.words)
            try costLog!.append(cost)   // before the row: every kept row has its costs on resume
            try writer!.append(row)
            manifest.images.append(cost)
            certified += 1
            samples += r.selection.samples + r.estimation.samples
            if cert.abstained { abstained += 1 } else if row.correct { correct += 1 }
            let elapsed = Date().timeIntervalSince(started)
            bar.update(certified, String(format: "%.0f samples/s, correct %d, abstained %d", Double(samples) / elapsed, correct, abstained))
            rootSeconds += Date().timeIntervalSince(t0)
        }
        guard comm.rank == 0 else { return }
        writer!.close()
        let wall = Date().timeIntervalSince(started)
        let busy = (report.ranks ?? [report.local]).map(\.busySeconds).sorted()
        manifest.status = "complete"
        manifest.wallSeconds = wall
        manifest.imagesCertified = done.count + certified
        manifest.samplesPerSecond = Double(samples) / wall
        manifest.ranks = (report.ranks ?? [report.local]).map {
            RunManifest.RankFigures(rank: $0.rank, units: $0.unitsDone, busySeconds: $0.busySeconds, waitSeconds: $0.waitSeconds)
        }
        manifest.busySecondsMin = busy.first ?? 0
        manifest.busySecondsMedian = busy.isEmpty ? 0 : busy[busy.count / 2]
        manifest.busySecondsMax = busy.last ?? 0
        manifest.rootAggregationSeconds = rootSeconds
        try manifest.write(to: manifestPath)
        costLog!.remove()
        printFlushed(String(format: "certified %d images (%d correct, %d abstained) in %.1f s on %d rank(s): %.0f samples/s → %@",
                            certified, correct, abstained, wall, comm.size, Double(samples) / wall, o.out))
    }
}

/// Options shared by `certify` and `predict`.
struct SmoothingOptions: ParsableArguments {
    @Option(help: "DEQ checkpoint (default: the embedded Fashion-MNIST σ=0.25 model).") var model: String?
    @Option(help: "Data set: mnist or fashion-mnist (default: the checkpoint's).") var data: String?
    @Option(help: "Split (test).") var split: String = "test"
    @Option(help: "Certify every k-th image.") var skip: Int = 20
    @Option(help: "At most this many images (0 = all selected).") var max: Int = 500
    @Option(help: "Noise σ.") var sigma: Float = 0.25
    @Option(help: "Selection samples n0.") var n0: Int = 100
    @Option(help: "Estimation samples n.") var n: Int = 10_000
    @Option(help: "Failure probability α.") var alpha: Double = 0.001
    @Option(help: "srs or standard.") var mode: String = "srs"
    @Option(help: "Solver of every sample (standard) or serialized step (srs): naive, anderson, broyden.") var solver: String = "anderson"
    @Option(help: "Solver steps (S for srs, D for standard).") var steps: Int = 1
    @Option(help: "SRS warm-up (step 0 of each chain) steps, with Anderson.") var warmupSteps: Int = 10
    @Option(help: "SRS: K serialized samples re-solved from zero.") var check: Int = 400
    @Option(help: "SRS: solver of the K-sample check and of selection.") var checkSolver: String = "anderson"
    @Option(help: "SRS: steps of the check solver.") var checkSteps: Int = 10
    @Option(help: "Stop a solve early when every sample's relative residual is below this (0: always run all steps).")
    var tolerance: Float = 0
    @Option(help: "Radius estimator for srs: paper or reference-code.") var radius: String = "paper"
    @Option(help: "Chains per (image, phase).") var chains: Int = 400
    @Option(help: "Chains per block (the batch of every unit of work).") var chainsPerBlock: Int = 50
    @Option(help: "Seed of the noise.") var seed: UInt64 = 0
    @Option(name: .shortAndLong, help: "Report path (.tsv); the manifest goes beside it (.json).") var out: String
    @Option(help: "Run only shard i of n of the images (i/n, from 0), without MPI.") var shard: String?
    @Flag(help: "Continue a run from its report and manifest, skipping finished images.") var resume = false
    @Option(help: "auto (MPI when launched by mpirun), off, or mpi.") var distributed: DistributedChoice = .auto
    @Option(help: "OpenBLAS threads per rank.") var threads: Int?
    @Option(help: ArgumentHelp("Without MPI: in-process ranks, one OpenBLAS thread each (default: one per core, or 1 with --threads).",
                               valueName: "n")) var workers: Int?
    @Flag(help: "No progress bar.") var quiet = false
    @OptionGroup var attention: AttentionOptions
}

extension SmoothingOptions {
    /// In-process ranks when not under MPI: `--workers`, else one per core unless `--threads` asks for BLAS threads.
    func inProcessWorkers() throws -> Int {
        if let workers {
            guard workers >= 1 else { throw CoordinatorError.invalidOption(name: "workers", value: "\(workers)", reason: "must be ≥ 1") }
            return workers
        }
        return threads == nil ? Swift.max(1, ProcessInfo.processInfo.activeProcessorCount) : 1
    }

    func solverConfig(_ name: String, _ steps: Int, option: String) throws -> SolverConfig {
        guard steps >= 1 else { throw CoordinatorError.invalidOption(name: option, value: "\(steps)", reason: "must be ≥ 1") }
        return SolverConfig(kind: try SolverKind(parsing: name), maxSteps: steps, tolerance: tolerance, stopMode: .relative)
    }

    /// The validated smoothing configuration (PREDICT needs no K-sample check).
    func smoothingConfiguration(forPredict: Bool) throws -> SmoothingConfiguration {
        guard let smoothingMode = SmoothingMode(rawValue: mode) else {
            throw CoordinatorError.invalidOption(name: "mode", value: mode, reason: "expected srs or standard")
        }
        guard let estimator = RadiusEstimator(rawValue: radius) else {
            throw CoordinatorError.invalidOption(name: "radius", value: radius, reason: "expected paper or reference-code")
        }
        guard split == "test" || split == "train" else {
            throw CoordinatorError.invalidOption(name: "split", value: split, reason: "expected test or train")
        }
        guard skip >= 1 else { throw CoordinatorError.invalidOption(name: "skip", value: "\(skip)", reason: "must be ≥ 1") }
        guard max >= 0 else { throw CoordinatorError.invalidOption(name: "max", value: "\(max)", reason: "must be ≥ 0") }
        let anderson = try solverConfig("anderson", warmupSteps, option: "warmup-steps")
        var config = SmoothingConfiguration(sigma: sigma, n0: n0, n: n, alpha: alpha, mode: smoothingMode,
                                            solver: try solverConfig(solver, steps, option: "steps"),
                                            warmupSolver: anderson,
                                            checkSolver: try solverConfig(checkSolver, checkSteps, option: "check-steps"),
                                            checkCount: check, chains: chains, chainsPerBlock: chainsPerBlock,
                                            radius: estimator, seed: seed)
        if forPredict { config.checkCount = 1 }
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
