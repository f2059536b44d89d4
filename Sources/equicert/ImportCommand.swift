import ArgumentParser
import Coordinator
import Foundation

/// `equicert import`: a PyTorch MDEQ-Vision state_dict (safetensors) and its configuration → an equicert MDEQ
/// checkpoint that `certify`, `predict`, `evaluate` and `solver-stats` take. Refuses (non-zero exit, nothing written)
/// a tensor it cannot place, a configuration field that disagrees with the tensors, a branch count outside 1–4.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a PyTorch MDEQ (or DEQ-S) state_dict (.safetensors) with its configuration as an equicert checkpoint.")
    @Argument(
        help: "The state_dict (.safetensors, from safetensors.torch.save_file(model.state_dict(), …); Scripts/pth-to-safetensors converts a .pth).")
    var stateDict: String
    @Option(help: "MDEQ preset the configuration starts from: tiny, tiny-original, small, large (default tiny when --config is given).")
    var preset: String?
    @Option(
        help:
            "Configuration file overriding the preset: JSON or the public MDEQ YAML (NUM_BRANCHES, NUM_CHANNELS, HEAD_CHANNELS, FINAL_CHANSIZE, EXPANSION_FACTOR, NUM_GROUPS, DOWNSAMPLE_TIMES, NUM_CLASSES, IMAGE_SIZE), as equicert export writes it; a DEQ-S architecture JSON (\"family\": \"deq-s\") imports a DEQ-S."
    )
    var config: String?
    @Option(name: .shortAndLong, help: "Output checkpoint (.safetensors), written atomically.") var out: String
    @Option(
        help:
            "Data set recorded in the checkpoint (the default of certify/evaluate): mnist, fashion-mnist, mnist-32x32x3, cifar10 (default: the configuration's DATA, else cifar10)."
    )
    var data: String?
    @Option(help: "Training noise σ recorded in the checkpoint (default: the configuration's SIGMA, else unknown).") var sigma: Float?
    @Option(help: "BatchNorm ε of the PyTorch model (default: the configuration's BATCH_NORM_EPSILON, else 1e-5).") var batchNormEpsilon: Float?
    @Flag(help: "Replace an existing output checkpoint.") var force = false

    func run() throws {
        try runReportingErrors {
            var s = ImportJob.Settings(stateDict: stateDict, output: out)
            s.preset = preset; s.configFile = config; s.data = data; s.sigma = sigma ?? .nan
            s.batchNormEpsilon = batchNormEpsilon; s.force = force; s.command = commandLine()
            for line in try ImportJob(s).run() { print(line) }
        }
    }
}
