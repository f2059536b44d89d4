import Datasets
import Distributed
import Equilibrium
import Foundation
import NeuralNet
import Pruning
import Reports
import Transformers

/// `equicert prune`: load a DEQ-S or MiniLM text-classifier checkpoint, run `PruningProcedure` over the
/// communicator, and (root) write the pruned checkpoint (weights + `mask.*` tensors + the original metadata,
/// so `certify` / `evaluate` read it like any other) and the report (JSON + Markdown).
public struct PruneJob {
    public struct Options: Sendable {
        public var model: String
        /// Image data for a DEQ-S (default: the checkpoint's); ignored for text checkpoints (their split file rules).
        public var data: ImageDataSource?
        public var settings: PruningSettings
        public var distillation: PruningDistillation?
        /// DEQ-S: training images held out for selection.
        public var validationCount: Int = 5000
        /// Training examples used (0 = all).
        public var trainLimit: Int = 0
        /// Test examples evaluated (0 = all; a prefix).
        public var testLimit: Int = 0
        public var dataDirectory: String?
        public var output: String
        /// Report path without extension: `<report>.json` and `<report>.md` (default: the output's, beside it).
        public var report: String?
        public var command: String = ""
        public var codeVersion: String = ""
        public init(model: String, settings: PruningSettings, output: String) {
            self.model = model; self.settings = settings; self.output = output
        }
    }

    /// The report: settings, the model before and after, every stage, cost and wall time.
    public struct Report: Sendable, Codable {
        public var command: String
        public var codeVersion: String
        public var model: String
        public var modelKind: String
        public var data: String
        public var ranks: Int
        public var settings: PruningSettings
        public var distillation: PruningDistillation?
        public var trainingExamples: Int
        public var testLimit: Int
        public var parameters: Int
        public var prunableWeights: Int
        public var nonZeroBefore: Int
        public var nonZeroAfter: Int
        public var denseValidationAccuracy: Double
        public var denseTestAccuracy: Double
        public var denseTestDetails: [String: Double]
        public var stages: [PruningStageRecord]
        public var totalEpochs: Double
        public var seconds: Double
        public var output: String
    }

    public let options: Options
    public init(_ options: Options) { self.options = options }

    public func run(on comm: any Communicator = SingleProcessCommunicator(), log: (String) -> Void) throws -> Report {
        let o = options
        try o.settings.validate()
        try o.distillation?.validate()
        guard o.testLimit >= 0 else { throw CoordinatorError.invalidOption(name: "test-limit", value: "\(o.testLimit)", reason: "must be ≥ 0") }
        guard o.trainLimit >= 0 else { throw CoordinatorError.invalidOption(name: "train-limit", value: "\(o.trainLimit)", reason: "must be ≥ 0") }
        guard FileManager.default.fileExists(atPath: o.model) else { throw CoordinatorError.checkpoint(path: o.model, reason: "no such file") }
        let started = Date()
        let subject: PruningSubject
        let kind: String, dataName: String
        var save: (MaskSet, [String: String]) throws -> Void
        if TextCheckpoint.isTextClassifier(o.model) {
            let loaded = try TextCheckpoint.load(o.model)
            let teacher = o.distillation != nil ? try TextCheckpoint.load(o.model).model : nil
            subject = try TextPruningSubject(
                loaded: loaded, teacher: teacher, distillation: o.distillation ?? PruningDistillation(),
                dataDirectory: o.dataDirectory, trainLimit: o.trainLimit, testLimit: o.testLimit, seed: o.settings.seed)
            kind = "minilm-classifier"; dataName = loaded.dataSet.rawValue
            save = { masks, meta in
                var m = loaded.metadata
                for (k, v) in meta { m[k] = v }
                m["equicert.split-file"] = URL(fileURLWithPath: loaded.splitPath).lastPathComponent
                let out = URL(fileURLWithPath: o.output)
                try FileManager.default.createDirectory(at: out.deletingLastPathComponent(), withIntermediateDirectories: true)
                // The split file travels with the checkpoint (evaluation reads it from beside the checkpoint).
                let splitCopy = out.deletingLastPathComponent().appendingPathComponent(URL(fileURLWithPath: loaded.splitPath).lastPathComponent)
                if splitCopy.standardizedFileURL.path != URL(fileURLWithPath: loaded.splitPath).standardizedFileURL.path {
                    try AtomicFile.write(try Data(contentsOf: URL(fileURLWithPath: loaded.splitPath)), to: splitCopy.path)
                }
                try loaded.model.save(to: out, metadata: m, extra: masks.tensors(shapes: loaded.model.parameters))
            }
        } else {
            let meta = try SafeTensorsFile(contentsOf: URL(fileURLWithPath: o.model)).metadata
            guard let arch = meta[DEQCheckpoint.architectureKey], arch.hasPrefix("{") else {  // DEQ-S: a JSON configuration
                throw CoordinatorError.checkpoint(path: o.model, reason: "prune takes a DEQ-S or MiniLM-classifier checkpoint; this is neither")
            }
            let (model, prov, _) = try DEQCheckpoint.load(o.model)
            let teacher = o.distillation != nil ? try DEQCheckpoint.load(o.model).model : nil
            let source =
                try o.data
                ?? ImageDataSource(rawValue: prov.dataSet).orThrow(
                    CoordinatorError.checkpoint(path: o.model, reason: "metadata names data '\(prov.dataSet)'; pass --data"))
            guard prov.sigma.isFinite, prov.sigma >= 0 else {
                throw CoordinatorError.checkpoint(path: o.model, reason: "metadata 'equicert.sigma' is missing")
            }
            subject = try DEQPruningSubject(
                model: model, teacher: teacher, distillation: o.distillation ?? PruningDistillation(),
                data: source, sigma: prov.sigma, validationCount: o.validationCount,
                trainLimit: o.trainLimit, testLimit: o.testLimit, seed: o.settings.seed)
            kind = "deq-s"; dataName = source.rawValue
            save = { masks, meta in
                var p = prov
                p.command = o.command; p.codeVersion = o.codeVersion
                for (k, v) in meta { p.extra[k] = v }
                try DEQCheckpoint.save(model, provenance: p, optimizer: nil, masks: masks, to: o.output)
            }
        }
        let store = subject.parameters
        let names = PrunableMatrices.names(in: store)
        guard !names.isEmpty else { throw PruningError.nothingToPrune(model: o.model) }
        let isRoot = comm.rank == 0
        let prunable = names.reduce(0) { $0 + store.slot(named: $1)!.count }
        let nonZeroBefore = store.values.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
        var denseVal = 0.0, denseTest = 0.0, denseDetails: [String: Double] = [:]
        if isRoot {
            log(
                "\(kind) \(o.model): \(store.count) parameters, \(names.count) prunable matrices (\(prunable) weights); "
                    + "\(subject.trainingCount) training examples; \(comm.size) rank(s); method \(o.settings.method.rawValue), "
                    + "schedule \(o.settings.schedule.map { String(format: "%.4g", $0) }.joined(separator: ","))"
                    + (o.distillation != nil ? ", distillation from the unpruned model" : ""))
            denseVal = try subject.evaluate(.validation, limit: 0).accuracy
            let t = try subject.evaluate(.test, limit: 0)
            denseTest = t.accuracy; denseDetails = t.details
            log(String(format: "before pruning: validation %.4f, test %.4f", denseVal, denseTest))
        }
        // A checkpoint pruned before keeps its masks: the new stages are nested in them.
        let initialMasks = try MaskSet.read(from: SafeTensorsFile(contentsOf: URL(fileURLWithPath: o.model)), for: store)
        if let m = initialMasks, isRoot { log(String(format: "continuing from the checkpoint's masks (sparsity %.4f)", m.sparsity)) }
        let run = try PruningProcedure(o.settings).run(
            subject, comm: comm, initialMasks: initialMasks, log: log,
            candidateLog: writeToStandardError)
        let nonZeroAfter = store.values.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
        let report = Report(
            command: o.command, codeVersion: o.codeVersion, model: o.model, modelKind: kind, data: dataName,
            ranks: comm.size, settings: o.settings, distillation: o.distillation,
            trainingExamples: subject.trainingCount, testLimit: o.testLimit, parameters: store.count, prunableWeights: prunable,
            nonZeroBefore: nonZeroBefore, nonZeroAfter: nonZeroAfter, denseValidationAccuracy: denseVal,
            denseTestAccuracy: denseTest, denseTestDetails: denseDetails, stages: run.stages,
            totalEpochs: run.totalEpochs, seconds: Date().timeIntervalSince(started), output: o.output)
        if isRoot {
            let last = run.stages.last!
            try save(
                run.masks,
                [
                    "equicert.pruning.method": o.settings.method.rawValue,
                    "equicert.pruning.sparsity": String(format: "%.6f", last.sparsity),
                    "equicert.pruning.source": o.model,
                    "equicert.pruning.test-accuracy": String(format: "%.4f", last.testAccuracy),
                ])
            let base = o.report ?? (o.output.hasSuffix(".safetensors") ? String(o.output.dropLast(".safetensors".count)) : o.output) + ".pruning"
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(try enc.encode(report), to: base + ".json")
            try AtomicFile.write(Data(Self.markdown(report).utf8), to: base + ".md")
            log("wrote \(o.output), \(base).json, \(base).md")
        }
        return report
    }

    /// The Markdown report: dense baseline, one row per stage, candidates of each stage.
    public static func markdown(_ r: Report) -> String {
        var s = "# Pruning report\n\n"
        s += "- model: `\(r.model)` (\(r.modelKind)), data \(r.data), \(r.trainingExamples) training examples\n"
        s += "- method: \(r.settings.method.rawValue)"
        if r.settings.method == .random { s += ", \(r.settings.candidates) candidates per stage, power \(r.settings.power), ρ \(r.settings.rhos)" }
        s += "; seed \(r.settings.seed); ranks \(r.ranks)\n"
        s +=
            "- early evaluation: \(r.settings.earlySteps) steps at \(r.settings.earlyLearningRateFactor)× lr \(r.settings.learningRate), validation every \(r.settings.evaluateEvery), score = mean of the last \(r.settings.scoreWindow); retraining \(r.settings.retrainSteps) steps, batch \(r.settings.batchSize)\n"
        if let d = r.distillation {
            s += "- distillation from the unpruned model: soft weight \(d.softWeight), hidden weight \(d.hiddenWeight), T \(d.temperature)\n"
        }
        s += "- parameters \(r.parameters), prunable \(r.prunableWeights); non-zero before \(r.nonZeroBefore), after \(r.nonZeroAfter)\n"
        s += String(
            format: "- before pruning (the input checkpoint): validation %.2f %%, test %.2f %%\n", 100 * r.denseValidationAccuracy,
            100 * r.denseTestAccuracy)
        s += String(format: "- cost %.2f epochs, wall time %.0f s\n", r.totalEpochs, r.seconds)
        s += "- command: `\(r.command)`\n\n"
        s += "| stage | target | reached | winner | early scores | ρ_s(early, full) | validation | test | selection s | retrain s | epochs |\n"
        s += "|---|---|---|---|---|---|---|---|---|---|---|\n"
        for st in r.stages {
            let scores = st.candidates.count > 1 ? st.candidates.map { String(format: "%.3f", $0.earlyScore) }.joined(separator: " ") : "–"
            s += String(
                format: "| %d | %.4f | %.4f | %d | %@ | %@ | %.2f %% | %.2f %% | %.0f | %.0f | %.2f |\n",
                st.stage, st.targetSparsity, st.sparsity, st.winner, scores,
                st.rankCorrelation.map { String(format: "%.2f", $0) } ?? "–",
                100 * st.validationAccuracy, 100 * st.testAccuracy, st.selectionSeconds, st.retrainSeconds, st.epochs)
        }
        if let last = r.stages.last {
            s += "\nSparsity per matrix after the last stage:\n\n| matrix | sparsity |\n|---|---|\n"
            for (n, v) in last.sparsityPerMatrix.sorted(by: { $0.key < $1.key }) { s += String(format: "| `%@` | %.4f |\n", n, v) }
        }
        return s
    }
}

extension Optional {
    func orThrow(_ e: @autoclosure () -> Error) throws -> Wrapped {
        guard let v = self else { throw e() }
        return v
    }
}
