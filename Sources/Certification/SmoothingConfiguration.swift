import Equilibrium

/// How noisy samples are classified.
public enum SmoothingMode: String, Sendable, Codable, CaseIterable {
    /// Every noisy sample solved from zero by the base classifier (Cohen et al.).
    case standard
    /// Serialized randomized smoothing (Gao et al. 2024): chains of noisy samples, each solve warm-started from
    /// the previous sample's fixed point, tied to the base classifier by from-zero re-solves (the audit).
    case srs
}

/// Which radius a run reports (docs/certificate.md §3 and §4). Always named in reports and manifests.
public enum RadiusEstimator: String, Sendable, Codable, CaseIterable {
    /// Standard mode: Cohen's p̲A = CP_lower(n_A, n, α) on i.i.d. from-zero solves.
    case cohen
    /// SRS (default): the audit of docs/certificate.md §4 — sound whatever the dependence between serialized predictions.
    case audit
    /// SRS, Eqs. 9/12/13/14 with α split in two, ĉA from selection, the checks the audit's first stage. Treats
    /// dependent serialized predictions as i.i.d., so its 1 − α is not proven (kept for comparison).
    case paper
    /// SRS, the released code's form LCB(r·N_A, r·N, 1 − α/2), check class = majority of the checked serialized
    /// predictions (for comparison with published numbers; not a sound correction).
    case referenceCode = "reference-code"

    /// The estimators a mode accepts.
    public static func allowed(in mode: SmoothingMode) -> [RadiusEstimator] {
        mode == .standard ? [.cohen] : [.audit, .paper, .referenceCode]
    }
    /// The default of a mode.
    public static func `default`(for mode: SmoothingMode) -> RadiusEstimator { mode == .standard ? .cohen : .audit }
    /// Whether the estimator comes with a proof under chain dependence.
    public var isSound: Bool { self == .cohen || self == .audit }
}

/// All settings of a smoothing run; a pure value so units of work can be computed anywhere.
///
/// The certificate is about the smoothed *base classifier*: the DEQ solved from zero by `baseClassifier`
/// (standard: `solver`; SRS: `baseSolver`, which also does SRS's selection and audit).
public struct SmoothingConfiguration: Sendable, Codable, Equatable {
    public var sigma: Float
    /// Selection samples n0 and estimation samples n.
    public var n0: Int, n: Int
    public var alpha: Double
    public var mode: SmoothingMode
    /// Standard mode: the base classifier (every sample from zero). SRS: the solver of every serialized step.
    public var solver: SolverConfig
    /// SRS: step 0 of every chain ("warm-up"), solved from zero.
    public var warmupSolver: SolverConfig
    /// SRS: the base classifier's solver (from zero): selection and the audit's re-solves.
    public var baseSolver: SolverConfig
    /// SRS: the audit's cumulative stage sizes K₁ < K₂ < … ≤ n (prefixes of one seeded permutation of the n
    /// estimation samples). Stage s + 1 runs only where stage s's bound limits p̲A (`auditEscalation`).
    /// Empty in standard mode. The paper and reference-code forms use stage 1 as their K checks.
    public var auditStages: [Int]
    /// SRS: escalate to the next audit stage when N_A ≥ this share of N (docs/certificate.md §4). Default 0.5: every
    /// image with a majority for ĉA, since the first stage's disagreement bound costs radius almost everywhere
    /// (0.97 left 15 of 166 images below the base classifier's radius, EXPERIMENTS.md). Manifests written before
    /// the field existed ran with 0.97.
    public var auditEscalation: Double
    /// Total chains per (image, phase) and chains per block (the batch shape of every unit of work).
    public var chains: Int, chainsPerBlock: Int
    public var radius: RadiusEstimator
    public var seed: UInt64

    public init(
        sigma: Float, n0: Int = 100, n: Int = 10_000, alpha: Double = 0.001, mode: SmoothingMode = .srs,
        solver: SolverConfig, warmupSolver: SolverConfig, baseSolver: SolverConfig, auditStages: [Int] = [400, 2_000],
        auditEscalation: Double = 0.5, chains: Int = 400, chainsPerBlock: Int = 50, radius: RadiusEstimator? = nil,
        seed: UInt64 = 0
    ) {
        self.sigma = sigma; self.n0 = n0; self.n = n; self.alpha = alpha; self.mode = mode
        self.solver = solver; self.warmupSolver = warmupSolver; self.baseSolver = baseSolver
        self.auditStages = auditStages; self.auditEscalation = auditEscalation
        self.chains = chains; self.chainsPerBlock = chainsPerBlock
        self.radius = radius ?? .default(for: mode); self.seed = seed
        normalize()
    }

    /// The solver of the base classifier, from zero.
    public var baseClassifier: SolverConfig { mode == .standard ? solver : baseSolver }

    /// "the DEQ solved from zero by anderson, ≤ 30 steps, stop at relative residual 0.001" (reports and manifests).
    public var baseClassifierDescription: String {
        let s = baseClassifier
        let stop = s.tolerance > 0 ? ", stop at \(s.stopMode.rawValue) residual \(s.tolerance)" : " (no early stop)"
        return "the DEQ solved from zero by \(s.kind.rawValue), ≤ \(s.maxSteps) steps\(stop)"
    }

    /// Standard mode ignores the SRS settings: they are set to fixed values so that equal runs compare equal.
    mutating func normalize() {
        guard mode == .standard else { return }
        baseSolver = solver; warmupSolver = solver; auditStages = []; auditEscalation = 1
    }

    /// Reject settings that cannot give a valid certificate.
    public func validate() throws(CertificationError) {
        if !(sigma > 0) || !sigma.isFinite { throw .invalidSetting(name: "sigma", value: "\(sigma)", reason: "must be > 0") }
        if !(alpha > 0 && alpha < 1) { throw .invalidSetting(name: "alpha", value: "\(alpha)", reason: "must lie in (0, 1)") }
        // The audit splits α into per-stage shares (α/4 each over the stages); they must stay normal numbers.
        if alpha / 4 / Double(Swift.max(1, auditStages.count)) < Double.leastNormalMagnitude {
            throw .invalidSetting(name: "alpha", value: "\(alpha)", reason: "too small: its shares (α/4 per audit stage) underflow")
        }
        if n0 < 1 { throw .invalidSetting(name: "n0", value: "\(n0)", reason: "must be ≥ 1") }
        if n < 1 { throw .invalidSetting(name: "n", value: "\(n)", reason: "must be ≥ 1") }
        if chainsPerBlock < 1 { throw .invalidSetting(name: "chainsPerBlock", value: "\(chainsPerBlock)", reason: "must be ≥ 1") }
        if chains < 1 || chains % chainsPerBlock != 0 {
            throw .invalidSetting(name: "chains", value: "\(chains)", reason: "must be a positive multiple of chainsPerBlock (\(chainsPerBlock))")
        }
        for (name, s) in [("solver", solver), ("warmupSolver", warmupSolver), ("baseSolver", baseSolver)] {
            do { try s.validate() } catch { throw .invalidSetting(name: name, value: s.kind.rawValue, reason: "\(error)") }
        }
        guard RadiusEstimator.allowed(in: mode).contains(radius) else {
            throw .invalidSetting(
                name: "radius", value: radius.rawValue,
                reason: "\(mode.rawValue) mode takes \(RadiusEstimator.allowed(in: mode).map(\.rawValue).joined(separator: " or "))")
        }
        if mode == .srs {
            let stages = auditStages.map(String.init).joined(separator: ",")
            guard let first = auditStages.first else {
                throw .invalidSetting(name: "auditStages", value: "", reason: "SRS needs at least one audit stage (e.g. 400)")
            }
            if first < 1 { throw .invalidSetting(name: "auditStages", value: stages, reason: "stage sizes must be ≥ 1") }
            if zip(auditStages, auditStages.dropFirst()).contains(where: { $0 >= $1 }) {
                throw .invalidSetting(name: "auditStages", value: stages, reason: "stage sizes must increase (each stage extends the previous one)")
            }
            if auditStages.last! > n {
                throw .invalidSetting(name: "auditStages", value: stages, reason: "the last stage exceeds n = \(n) estimation samples")
            }
            if !(auditEscalation > 0 && auditEscalation <= 1) {
                throw .invalidSetting(name: "auditEscalation", value: "\(auditEscalation)", reason: "must lie in (0, 1]")
            }
        } else if !auditStages.isEmpty {
            throw .invalidSetting(
                name: "auditStages", value: auditStages.map(String.init).joined(separator: ","),
                reason: "standard mode has no audit: every sample is already a from-zero solve")
        }
    }

    // Manifests written before the audit named the base solver `checkSolver`, K `checkCount`, and labelled
    // standard runs' radius `paper`; they still decode (to the settings those runs used).
    enum CodingKeys: String, CodingKey {
        case sigma, n0, n, alpha, mode, solver, warmupSolver, baseSolver, auditStages, auditEscalation, chains,
            chainsPerBlock, radius, seed, checkSolver, checkCount
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sigma = try c.decode(Float.self, forKey: .sigma)
        n0 = try c.decode(Int.self, forKey: .n0); n = try c.decode(Int.self, forKey: .n)
        alpha = try c.decode(Double.self, forKey: .alpha)
        mode = try c.decode(SmoothingMode.self, forKey: .mode)
        solver = try c.decode(SolverConfig.self, forKey: .solver)
        warmupSolver = try c.decode(SolverConfig.self, forKey: .warmupSolver)
        baseSolver = try c.decodeIfPresent(SolverConfig.self, forKey: .baseSolver) ?? c.decode(SolverConfig.self, forKey: .checkSolver)
        if let stages = try c.decodeIfPresent([Int].self, forKey: .auditStages) {
            auditStages = stages
        } else {
            auditStages = [try c.decode(Int.self, forKey: .checkCount)]
        }
        auditEscalation = try c.decodeIfPresent(Double.self, forKey: .auditEscalation) ?? 0.97
        chains = try c.decode(Int.self, forKey: .chains); chainsPerBlock = try c.decode(Int.self, forKey: .chainsPerBlock)
        radius = try c.decode(RadiusEstimator.self, forKey: .radius)
        seed = try c.decode(UInt64.self, forKey: .seed)
        if mode == .standard { radius = .cohen }
        normalize()
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(sigma, forKey: .sigma); try c.encode(n0, forKey: .n0); try c.encode(n, forKey: .n)
        try c.encode(alpha, forKey: .alpha); try c.encode(mode, forKey: .mode); try c.encode(solver, forKey: .solver)
        try c.encode(warmupSolver, forKey: .warmupSolver); try c.encode(baseSolver, forKey: .baseSolver)
        try c.encode(auditStages, forKey: .auditStages); try c.encode(auditEscalation, forKey: .auditEscalation)
        try c.encode(chains, forKey: .chains); try c.encode(chainsPerBlock, forKey: .chainsPerBlock)
        try c.encode(radius, forKey: .radius); try c.encode(seed, forKey: .seed)
    }
}
