import Equilibrium

/// How noisy samples are classified.
public enum SmoothingMode: String, Sendable, Codable, CaseIterable {
    /// Every noisy sample solved from zero with the chosen solver and step count (Cohen et al.).
    case standard
    /// Serialized randomized smoothing (Gao et al. 2024): chains of noisy samples, each solve warm-started from
    /// the previous sample's fixed point, with the correlation-eliminated radius.
    case srs
}

/// Which SRS radius estimator (docs/srs.md §3). Always named in reports.
public enum RadiusEstimator: String, Sendable, Codable, CaseIterable {
    /// Eqs. 9/12/13/14 with α split in two, ĉA from selection and a random K-subset (sound).
    case paper
    /// The released code's form: LCB(r·N_A, r·N, 1 − α/2), the check class taken as the majority of the K
    /// serialized predictions (for comparison with published numbers; barely penalises disagreement).
    case referenceCode = "reference-code"
}

/// All settings of a smoothing run; a pure value so units of work can be computed anywhere.
public struct SmoothingConfiguration: Sendable, Codable, Equatable {
    public var sigma: Float
    /// Selection samples n0 and estimation samples n.
    public var n0: Int, n: Int
    public var alpha: Double
    public var mode: SmoothingMode
    /// Standard mode: the solver for every sample. SRS: the solver of every serialized step (S steps).
    public var solver: SolverConfig
    /// SRS: step 0 of every chain ("warm-up"), solved from zero.
    public var warmupSolver: SolverConfig
    /// SRS: the K-sample check's from-zero solver (the "standard DEQ" Y_g), also used for SRS selection.
    public var checkSolver: SolverConfig
    /// SRS: K, the number of serialized samples re-solved from zero.
    public var checkCount: Int
    /// Total chains per (image, phase) and chains per block (the batch shape of every unit of work).
    public var chains: Int, chainsPerBlock: Int
    public var radius: RadiusEstimator
    public var seed: UInt64

    public init(sigma: Float, n0: Int = 100, n: Int = 10_000, alpha: Double = 0.001, mode: SmoothingMode = .srs,
                solver: SolverConfig, warmupSolver: SolverConfig, checkSolver: SolverConfig, checkCount: Int = 400,
                chains: Int = 400, chainsPerBlock: Int = 50, radius: RadiusEstimator = .paper, seed: UInt64 = 0) {
        self.sigma = sigma; self.n0 = n0; self.n = n; self.alpha = alpha; self.mode = mode
        self.solver = solver; self.warmupSolver = warmupSolver; self.checkSolver = checkSolver
        self.checkCount = checkCount; self.chains = chains; self.chainsPerBlock = chainsPerBlock
        self.radius = radius; self.seed = seed
    }

    /// Reject settings that cannot give a valid certificate.
    public func validate() throws(CertificationError) {
        if !(sigma > 0) || !sigma.isFinite { throw .invalidSetting(name: "sigma", value: "\(sigma)", reason: "must be > 0") }
        if !(alpha > 0 && alpha < 1) { throw .invalidSetting(name: "alpha", value: "\(alpha)", reason: "must lie in (0, 1)") }
        if n0 < 1 { throw .invalidSetting(name: "n0", value: "\(n0)", reason: "must be ≥ 1") }
        if n < 1 { throw .invalidSetting(name: "n", value: "\(n)", reason: "must be ≥ 1") }
        if chainsPerBlock < 1 { throw .invalidSetting(name: "chains-per-block", value: "\(chainsPerBlock)", reason: "must be ≥ 1") }
        if chains < 1 || chains % chainsPerBlock != 0 {
            throw .invalidSetting(name: "chains", value: "\(chains)", reason: "must be a positive multiple of chains-per-block (\(chainsPerBlock))")
        }
        for (name, s) in [("solver", solver), ("warmup-solver", warmupSolver), ("check-solver", checkSolver)] {
            do { try s.validate() } catch { throw .invalidSetting(name: name, value: s.kind.rawValue, reason: "\(error)") }
        }
        if mode == .srs {
            let serialized = layout(.estimation).serializedSamples
            if checkCount < 1 || checkCount > serialized {
                throw .invalidSetting(name: "check", value: "\(checkCount)",
                                      reason: "K must be between 1 and the \(serialized) serialized samples (n − chains = \(n) − \(min(chains, n)))"
                                          + (serialized == 0 ? "; lower --chains below --n" : ""))
            }
        }
    }
}
