import ArgumentParser
import Attacks
import Certification
import Coordinator
import Distillation
import Equilibrium
import Pruning
import RobustAttention
import Transformers

// The domain's named choices as option values: `--mode srs`, `--solver anderson`, … are parsed (and listed in
// the help) by ArgumentParser from the enums' raw values.

extension SmoothingMode: ExpressibleByArgument {}
extension RadiusEstimator: ExpressibleByArgument {}
extension SmoothingRunSettings.Split: ExpressibleByArgument {}
extension AttentionRule: ExpressibleByArgument {}
extension RobustCombiner.Gradient: ExpressibleByArgument {}
extension DEQConfiguration.Head: ExpressibleByArgument {}
extension TextClassifier.Pooling: ExpressibleByArgument {}
extension TextCheckpoint.Part: ExpressibleByArgument {}
extension PruningMethod: ExpressibleByArgument {}
extension StudentArchitecture: ExpressibleByArgument {}
extension LabelKind: ExpressibleByArgument {}
extension AttackJob.Method: ExpressibleByArgument {}
extension AttackJob.Part: ExpressibleByArgument {}
extension PGDAttack.Norm: ExpressibleByArgument {}
extension DistillEvaluationJob.Part: ExpressibleByArgument {}

extension SolverKind: ExpressibleByArgument {
    /// Solver names are case-insensitive (`Anderson` = `anderson`), as `SolverKind(parsing:)` reads them.
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// The model families `equicert train` trains.
enum TrainedModel: String, ExpressibleByArgument, CaseIterable {
    case deqS = "deq-s", mdeq, vit, minilm
}

/// How `train --model deq-s` differentiates through the fixed point.
enum BackwardKind: String, ExpressibleByArgument, CaseIterable {
    /// The adjoint fixed point solved with Anderson (`--backward-steps` steps).
    case implicit
    /// Phantom gradients: `--backward-steps` unrolled damped steps.
    case phantom
}
