// swift-tools-version: 6.0
// equicert: certified robustness of neural networks (DEQs first) on CPU clusters with MPI.
// Module layout and dependency rules: docs/architecture.md (checked by Tests/ArchitectureTests).
import PackageDescription

/// Numeric modules are optimised in debug builds too: the test suite runs real kernels and real models, which are
/// 10–50× slower at -Onone (tests still use @testable imports; -O keeps assertions and preconditions).
let optimizedInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "equicert",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "equicert", targets: ["equicert"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        // C import surfaces (system libraries found by pkg-config).
        .systemLibrary(
            name: "CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),

        // Compute.
        // The direct-convolution micro-kernel: C with AVX2/FMA intrinsics behind a run-time CPU check (-O2 always).
        .target(name: "CDirectConv", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "CSystem"),
        .target(name: "TensorCore", dependencies: ["CBLAS", "CDirectConv", "CSystem"], swiftSettings: optimizedInDebug),
        .target(name: "NeuralNet", dependencies: ["TensorCore"], swiftSettings: optimizedInDebug),
        .target(name: "Optimizers"),
        .target(name: "Datasets", dependencies: ["TensorCore", "CZlib"]),
        .target(name: "Statistics", swiftSettings: optimizedInDebug),
        .target(name: "Equilibrium", dependencies: ["TensorCore", "NeuralNet"], swiftSettings: optimizedInDebug),

        .target(name: "Certification", dependencies: ["TensorCore", "Equilibrium", "Statistics"], swiftSettings: optimizedInDebug),
        .target(name: "Reports"),
        .target(name: "Transformers", dependencies: ["TensorCore", "NeuralNet"], swiftSettings: optimizedInDebug),
        .target(name: "RobustAttention", dependencies: ["TensorCore", "NeuralNet", "Transformers"], swiftSettings: optimizedInDebug),
        .target(name: "Attacks", dependencies: ["TensorCore", "Transformers"], swiftSettings: optimizedInDebug),
        .target(
            name: "Pruning", dependencies: ["TensorCore", "NeuralNet", "Optimizers", "Datasets", "TrainingLoop"], swiftSettings: optimizedInDebug),
        // The training loop every trainer shares (gradient reduction, clipping, update, callbacks).
        .target(name: "TrainingLoop", dependencies: ["NeuralNet", "Optimizers", "Datasets"]),
        .target(
            name: "Distillation",
            dependencies: [
                "TensorCore", "NeuralNet", "Optimizers", "Datasets", "Equilibrium", "CZlib",
                "TrainingLoop",
            ],
            swiftSettings: optimizedInDebug),

        // Distribution.
        .target(name: "Distributed"),
        .target(name: "DistributedMPI", dependencies: ["Distributed", "CMPI"]),

        // Jobs: plan work → compute → reduce → rank-0 reports.
        .target(
            name: "Coordinator",
            dependencies: [
                "TensorCore", "NeuralNet", "Optimizers", "Datasets", "Statistics", "Equilibrium", "Distributed",
                "Certification", "Reports", "Transformers", "RobustAttention", "Attacks", "Distillation", "Pruning", "TrainingLoop",
            ]),

        // Front end.
        .executableTarget(
            name: "equicert",
            dependencies: [
                "TensorCore", "NeuralNet", "Datasets", "Equilibrium",
                "Distributed", "DistributedMPI", "Coordinator", "Certification", "Reports", "Transformers", "RobustAttention", "Attacks",
                "Distillation", "Pruning",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // Tests.
        .target(name: "_TestSupport", dependencies: ["TensorCore", "NeuralNet"], path: "Sources/_TestSupport"),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "_TestSupport"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "_TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "OptimizersTests", dependencies: ["Optimizers", "_TestSupport"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "_TestSupport"]),
        .testTarget(name: "StatisticsTests", dependencies: ["Statistics", "TensorCore"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"]),
        .testTarget(name: "DistributedMPITests", dependencies: ["Distributed", "DistributedMPI"]),
        .testTarget(
            name: "CoordinatorTests",
            dependencies: [
                "Coordinator", "Certification", "Distributed", "Datasets", "Statistics",
                "Transformers", "RobustAttention", "Attacks", "_TestSupport",
            ]),
        .testTarget(name: "CertificationTests", dependencies: ["Certification", "TensorCore", "_TestSupport"]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports"]),
        .testTarget(
            name: "TransformersTests", dependencies: ["Transformers", "Optimizers", "Datasets", "_TestSupport"],
            exclude: ["Fixtures"]),
        .testTarget(name: "RobustAttentionTests", dependencies: ["RobustAttention", "Transformers", "_TestSupport"]),
        .testTarget(name: "AttacksTests", dependencies: ["Attacks", "Transformers", "_TestSupport"]),
        .testTarget(name: "PruningTests", dependencies: ["Pruning", "_TestSupport"]),
        .testTarget(name: "DistillationTests", dependencies: ["Distillation", "CZlib", "_TestSupport"]),
        .testTarget(name: "EquilibriumTests", dependencies: ["Equilibrium", "_TestSupport"], exclude: ["Fixtures"]),
        // The layering rules of docs/architecture.md, checked against every import under Sources/.
        .testTarget(name: "ArchitectureTests"),
        .testTarget(
            name: "EquicertTests",
            dependencies: [
                "equicert", "Certification", "Coordinator", "Equilibrium",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
