// The command line: options parse into the settings the jobs get, bad values are refused before anything runs,
// errors of the certification layer are reported with flag names, and `certify --help` is pinned.
import ArgumentParser
import Certification
import Coordinator
import Equilibrium
import Foundation
import Testing

@testable import equicert

/// Parses `arguments` as the root command and returns the subcommand of type `T`.
func parse<T: ParsableCommand>(_ arguments: [String], as _: T.Type) throws -> T {
    let command = try EquicertCommand.parseAsRoot(arguments)
    return try #require(command as? T)
}

@Suite("Command line")
struct CommandLineTests {
    @Test("certify: defaults give the SRS audit configuration the manifest records")
    func certifyDefaults() throws {
        let c = try parse(["certify", "--model", "m.safetensors", "-o", "r.tsv"], as: CertifyCommand.self)
        let s = try c.o.runSettings(forPredict: false)
        #expect(s.model == "m.safetensors" && s.output == "r.tsv" && s.split == .test && s.skip == 20 && s.max == 500)
        #expect(s.shard == nil && s.shardText == nil && !s.resume && s.showProgress)
        let k = s.configuration
        #expect(k.mode == .srs && k.radius == .audit && k.auditStages == [400, 2_000] && k.auditEscalation == 0.5)
        #expect(k.sigma == 0.25 && k.n0 == 100 && k.n == 10_000 && k.alpha == 0.001 && k.chains == 400 && k.chainsPerBlock == 50)
        #expect(k.solver == SolverConfig(kind: .anderson, maxSteps: 1, tolerance: 0, stopMode: .relative))
        #expect(k.warmupSolver == SolverConfig(kind: .anderson, maxSteps: 10, tolerance: 0, stopMode: .relative))
        #expect(k.baseSolver == SolverConfig(kind: .anderson, maxSteps: 30, tolerance: 1e-3, stopMode: .relative))
    }

    @Test("certify: named choices, stages and the shard reach the settings")
    func certifyOptions() throws {
        let c = try parse(
            [
                "certify", "--model", "m", "-o", "r.tsv", "--mode", "standard", "--solver", "Broyden", "--steps", "5",
                "--radius", "cohen", "--split", "train", "--shard", "1/3", "--resume", "--quiet",
            ], as: CertifyCommand.self)
        let s = try c.o.runSettings(forPredict: false)
        #expect(s.configuration.mode == .standard && s.configuration.radius == .cohen && s.configuration.auditStages.isEmpty)
        #expect(s.configuration.solver.kind == .broyden && s.configuration.solver.maxSteps == 5)
        #expect(s.split == .train && s.shard?.index == 1 && s.shard?.count == 3 && s.shardText == "1/3")
        #expect(s.resume && !s.showProgress)
        let a = try parse(["certify", "--model", "m", "-o", "r.tsv", "--audit", "40, 100"], as: CertifyCommand.self)
        #expect(try a.o.runSettings(forPredict: false).configuration.auditStages == [40, 100])
    }

    @Test("export: options reach the command; a missing model is one error and exit 1")
    func exportCommand() throws {
        let c = try parse(
            ["export", "--model", "m.safetensors", "--out", "sd.safetensors", "--config-out", "c.yaml", "--weight-norm", "--force"],
            as: ExportCommand.self)
        #expect(c.model == "m.safetensors" && c.out == "sd.safetensors" && c.configOut == "c.yaml" && c.weightNorm && c.force)
        #expect(c.batchNormEpsilon == 1e-5)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString).safetensors").path
        let missing = try parse(["export", "--model", "/nonexistent/m.safetensors", "--out", out], as: ExportCommand.self)
        do {
            try missing.run()
            Issue.record("export of a missing model succeeded")
        } catch let e as ExitCode {
            #expect(e.rawValue == 1)
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test(
        "bad values are refused at parse time",
        arguments: [
            ["--mode", "fast"], ["--solver", "newton"], ["--radius", "exact"], ["--split", "val"], ["--skip", "0"],
            ["--max", "-1"], ["--steps", "0"], ["--workers", "0"], ["--tolerance", "-1"], ["--audit", "40,x"],
            ["--mode", "standard", "--audit", "40"], ["--attention", "l2"], ["--calibration-examples", "0"],
        ])
    func badValues(extra: [String]) {
        #expect(throws: (any Error).self) { _ = try EquicertCommand.parseAsRoot(["certify", "-o", "r.tsv"] + extra) }
    }

    @Test("negative numbers need no '=': the option's own check names them (not 'missing value'); --threads 0 is refused")
    func negativeValues() {
        for (extra, message) in [
            (["--max", "-1"], "invalid --max -1: must be ≥ 0"), (["--threads", "0"], "invalid --threads 0: must be ≥ 1"),
            (["--threads", "-2"], "invalid --threads -2: must be ≥ 1"), (["--skip", "-3"], "invalid --skip -3: must be ≥ 1"),
        ] {
            do {
                _ = try EquicertCommand.parseAsRoot(["certify", "-o", "r.tsv"] + extra)
                Issue.record("\(extra) accepted")
            } catch {
                #expect(EquicertCommand.message(for: error) == message, "\(extra)")
            }
        }
        #expect(throws: Never.self) { _ = try EquicertCommand.parseAsRoot(["certify", "-o", "r.tsv", "--tolerance", "0"]) }
    }

    @Test("predict refuses SRS; certify checks the configuration as a whole")
    func configurationChecks() throws {
        let p = try parse(["predict", "--model", "m", "-o", "p.tsv"], as: PredictCommand.self)
        #expect(throws: CoordinatorError.self) { try p.o.runSettings(forPredict: true) }
        let c = try parse(["certify", "--model", "m", "-o", "r.tsv", "--chains", "25"], as: CertifyCommand.self)
        #expect(throws: CertificationError.self) { try c.o.runSettings(forPredict: false) }
    }

    @Test("certification errors name flags on the command line, settings below it")
    func errorsNameFlags() {
        let e = CertificationError.invalidSetting(name: "chainsPerBlock", value: "0", reason: "must be ≥ 1")
        #expect(e.description == "invalid setting chainsPerBlock = 0: must be ≥ 1")
        #expect(describe(e) == "invalid --chains-per-block 0: must be ≥ 1")
        #expect(describe(CertificationError.invalidSetting(name: "auditStages", value: "", reason: "r")) == "invalid --audit : r")
        #expect(describe(CertificationError.invalidSetting(name: "sigma", value: "0.0", reason: "must be > 0")) == "invalid --sigma 0.0: must be > 0")
    }

    @Test("attack, train, prune and distill-eval take their named choices")
    func otherCommands() throws {
        let a = try parse(
            ["attack", "--model", "v", "--attack", "pgd", "--norm", "l2", "--part", "held-out", "--epsilons", "0.1, 0.3"],
            as: AttackCommand.self)
        let s = try a.settings()
        #expect(s.method == .pgd && s.norm == .l2 && s.part == .heldOut && s.epsilons == [0.1, 0.3])
        #expect(throws: (any Error).self) { _ = try EquicertCommand.parseAsRoot(["attack", "--model", "v", "--attack", "fgsm"]) }
        #expect(throws: CoordinatorError.self) {
            _ = try parse(["attack", "--model", "v", "--attack", "pgd", "--epsilons", "0.1,-1"], as: AttackCommand.self).settings()
        }
        // The text recipes under their papers' names, with their defaults; the old attack only under its own name.
        let r = try parse(["attack", "--model", "m", "--attack", "textfooler"], as: AttackCommand.self).settings()
        #expect(r.method == .textFooler && r.method.recipe == .textFooler)
        let c = try #require(try r.recipeConfiguration())
        #expect(c.similarityThreshold == 0.7 && c.similarityWindow == 15 && c.candidateCount == 50)
        #expect(c.maxPerturbedFraction == 0.25 && c.queryBudget == 2000 && r.wordNetDirectory == "/usr/share/wordnet")
        let w = try parse(
            [
                "attack", "--model", "m", "--attack", "pwws", "--candidates", "20", "--wordnet", "/opt/wn", "--sentence-encoder", "/opt/minilm",
                "--max-word-fraction", "1", "--query-budget", "500",
            ], as: AttackCommand.self
        ).settings()
        #expect(w.method.recipe == .pwws && w.candidates == 20 && w.wordNetDirectory == "/opt/wn" && w.sentenceEncoder == "/opt/minilm")
        #expect(try w.recipeConfiguration()?.maxPerturbedFraction == 1 && w.queryBudget == 500)
        #expect(try parse(["attack", "--model", "m", "--attack", "deepwordbug"], as: AttackCommand.self).settings().method.recipe == .deepWordBug)
        let e = try parse(["attack", "--model", "m", "--attack", "embedding-neighbours"], as: AttackCommand.self).settings()
        #expect(e.method == .embeddingNeighbours && e.method.recipe == nil)
        // Out-of-range recipe settings are refused when the settings are made, with the flag's name.
        do {
            _ = try parse(["attack", "--model", "m", "--attack", "textfooler", "--similarity-threshold", "1.5"], as: AttackCommand.self).settings()
            Issue.record("--similarity-threshold 1.5 was accepted")
        } catch {
            #expect(describe(error) == "invalid --similarity-threshold 1.5: must be in [0, 1]")
        }
        for bad in [["--max-word-fraction", "0"], ["--max-word-fraction", "1.5"], ["--query-budget", "0"], ["--candidates", "0"]] {
            #expect(throws: (any Error).self) {
                _ = try parse(["attack", "--model", "m", "--attack", "pwws"] + bad, as: AttackCommand.self).settings()
            }
        }
        // An unknown recipe name: a parse error naming the value and the choices.
        do {
            _ = try EquicertCommand.parseAsRoot(["attack", "--model", "m", "--attack", "textfool"])
            Issue.record("--attack textfool was accepted")
        } catch {
            let message = EquicertCommand.message(for: error)
            #expect(message.contains("textfool") && message.contains("pwws") && message.contains("embedding-neighbours"))
        }
        let t = try parse(["train", "--model", "vit", "--head", "flatten", "--backward", "phantom", "-o", "c"], as: TrainCommand.self)
        #expect(t.model == .vit && t.head == .flatten && t.backward == .phantom)
        let p = try parse(["prune", "--model", "m", "--method", "magnitude", "-o", "c"], as: PruneCommand.self)
        #expect(p.method == .magnitude)
        #expect(throws: (any Error).self) { _ = try EquicertCommand.parseAsRoot(["prune", "--model", "m", "-o", "c", "--workers", "0"]) }
        let d = try parse(
            ["distill-eval", "--distilled", "s", "--arch", "deq-s", "--labels", "soft", "--evaluate-on", "validation"],
            as: DistillEvalCommand.self)
        #expect(d.arch == .deqS && d.labels == .soft && d.evaluateOn == .validation)
    }

    /// `certify --help` at 100 columns, pinned: a changed option, default or help line shows up here.
    /// Regenerate with `EQUICERT_RECORD_FIXTURES=1 swift test --filter CommandLineTests`.
    @Test("certify --help is pinned")
    func certifyHelp() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/certify-help.txt")
        let help = EquicertCommand.helpMessage(for: CertifyCommand.self, columns: 100)
        if ProcessInfo.processInfo.environment["EQUICERT_RECORD_FIXTURES"] == "1" {
            try help.write(to: fixture, atomically: true, encoding: .utf8)
        }
        #expect(help == (try String(contentsOf: fixture, encoding: .utf8)))
    }
}
