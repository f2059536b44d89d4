import ArgumentParser
import Coordinator
import Foundation

/// `equicert export`: an equicert DEQ-S or MDEQ checkpoint → a PyTorch state_dict (.safetensors) and its
/// configuration, which `equicert import --config` reads back (the same logits). Refuses (non-zero exit, nothing
/// written) a missing model, a checkpoint of another kind, an output equal to the input, an existing output without
/// --force.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export an equicert DEQ-S or MDEQ checkpoint as a PyTorch state_dict (.safetensors) with its configuration.")
    @Option(help: "The equicert checkpoint (.safetensors) to export.") var model: String
    @Option(name: .shortAndLong, help: "Output state_dict (.safetensors, for safetensors.torch.load_file), written atomically.")
    var out: String
    @Option(
        help:
            "Output configuration: MDEQ-Vision YAML for an MDEQ, the architecture JSON for a DEQ-S (default: beside --out, .yaml or .json).")
    var configOut: String?
    @Option(help: "BatchNorm ε of the PyTorch model (MDEQ: the identity BatchNorms' running_var is 1 − ε).") var batchNormEpsilon: Float = 1e-5
    @Flag(help: "MDEQ: weight-normalised convolutions as weight_g/weight_v (WNORM: true; g rounded once) instead of plain .weight.")
    var weightNorm = false
    @Flag(help: "Replace existing outputs.") var force = false

    func run() throws {
        try runReportingErrors {
            var s = ExportJob.Settings(model: model, output: out)
            s.configOutput = configOut; s.batchNormEpsilon = batchNormEpsilon; s.weightNorm = weightNorm; s.force = force
            for line in try ExportJob(s).run() { print(line) }
        }
    }
}
