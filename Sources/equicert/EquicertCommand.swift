import ArgumentParser

/// The `equicert` command-line front end: parsing, communicator choice, exit codes.
struct EquicertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "equicert",
        abstract: "Certify the robustness of neural networks (deep equilibrium models first) on CPU clusters with MPI.",
        subcommands: [
            InfoCommand.self, TrainCommand.self, EvaluateCommand.self, SolverStatsCommand.self, BenchDEQCommand.self, CertifyCommand.self,
            PredictCommand.self, BenchCommand.self, BenchAttentionCommand.self, MPISelfTestCommand.self, EmbedCommand.self, AnalyzeCommand.self,
            ReportCommand.self, DistillCommand.self, DistillEvalCommand.self, AttackCommand.self, PruneCommand.self, ImportCommand.self,
            ExportCommand.self,
        ]
    )
}
