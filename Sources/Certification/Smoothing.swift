import Equilibrium
import Foundation
import TensorCore

/// Randomized smoothing of any `SmoothableClassifier` (serialized smoothing needs a DEQ), as pure units of work:
/// (image, phase, chain block) → `BlockOutcome` and, in SRS, (image, audit positions) → `AuditOutcome`.
///
/// A unit's result depends only on (configuration, model, image, unit), never on the world size or on what else
/// ran: noise for sample (chain c, step t) comes from the counter-based stream keyed by (seed, image, phase, c, t),
/// the batch is always the block's `chainsPerBlock` chains, and solvers do per-sample arithmetic. Standard and SRS
/// modes draw the same noise, so they can be compared sample by sample.
public struct Smoothing<Classifier: SmoothableClassifier>: Sendable {
    public let model: Classifier
    public let configuration: SmoothingConfiguration

    public init(model: Classifier, configuration: SmoothingConfiguration) throws(CertificationError) {
        try configuration.validate()
        if configuration.mode == .srs && !model.supportsSerializedSmoothing {
            throw .invalidSetting(
                name: "mode", value: "srs",
                reason: "serialized smoothing needs a model with a fixed-point state (a DEQ); use the standard mode")
        }
        if configuration.mode == .srs && model.classes > 256 {
            throw .modelMismatch(reason: "SRS records classes as bytes: at most 256 classes, the model has \(model.classes)")
        }
        self.model = model
        self.configuration = configuration
    }

    /// The audit's positions of an image: the first `count` entries of a uniformly random permutation of the n
    /// estimation samples (chain-major indices), from a stream keyed by (seed, image) alone — independent of the
    /// noise and of every prediction. A longer prefix extends a shorter one.
    public func auditPositions(image: Int, count: Int) -> [Int] { configuration.auditPositions(image: image, count: count) }

    /// Writes image + σ·ε(seed, image, phase, chain, step) into `slot` (`image.count` values).
    func addNoise(to slot: UnsafeMutablePointer<Float>, count per: Int, index: Int, phase: SmoothingPhase, chain: Int, step: Int) {
        var s = RandomStream(
            seed: configuration.seed, example: UInt32(index), phase: phase.rawValue,
            chain: UInt32(chain), step: UInt32(step))
        withUnsafeTemporaryAllocation(of: Float.self, capacity: per) { noise in
            s.fillGaussian(noise, mean: 0, std: configuration.sigma)
            for i in 0..<per { slot[i] += noise[i] }
        }
    }

    /// One (image, phase, block) unit. `image` is one image [H, W, C] in [0,1]. In SRS estimation the outcome also
    /// carries each counted sample's serialized class (chain-major, the block's `sampleRange`), for the audit.
    public func run(image: Tensor, index: Int, phase: SmoothingPhase, block: Int) -> BlockOutcome {
        let c = configuration
        let layout = c.layout(phase)
        let chainRange = layout.chainRange(ofBlock: block)
        let b = c.chainsPerBlock
        let per = image.count
        var counts = SampleCounts(classes: model.classes)
        // The clean image repeated over the block's chains.
        var clean = Tensor(shape: [b] + image.shape)
        clean.withUnsafeMutableBufferPointer { p in
            image.withUnsafeBufferPointer { q in
                for j in 0..<b { (p.baseAddress! + j * per).update(from: q.baseAddress!, count: per) }
            }
        }
        let serialized = c.isSerialized(phase)
        let record = serialized && phase == .estimation
        // classes[j][t]: chain j's class at step t (chain-major order once flattened).
        var classes: [[UInt8]] = record ? chainRange.map { _ in [UInt8]() } : []
        var z: Tensor? = nil
        var nonFinite = 0
        for t in 0..<layout.maxLength {
            var x = clean
            x.withUnsafeMutableBufferPointer { p in
                for j in 0..<b {
                    addNoise(
                        to: p.baseAddress! + j * per, count: per, index: index, phase: phase,
                        chain: chainRange.lowerBound + j, step: t)
                }
            }
            let solver: SolverConfig
            let start: Tensor?
            if !serialized {
                solver = c.baseClassifier
                start = nil
            } else if t == 0 {
                solver = c.warmupSolver
                start = nil
            } else {
                solver = c.solver
                start = z
            }
            let batch = model.classify(x, start: start, solver: solver)
            counts.sampleEvaluations += Int64(batch.evaluations * b)
            for j in 0..<b where t < layout.length(ofChain: chainRange.lowerBound + j) {
                guard batch.predictions[j] >= 0 else { nonFinite += 1; continue }
                counts.counts[batch.predictions[j]] += 1
                counts.samples += 1
                if batch.diverged[j] { counts.divergedSamples += 1 }
                if record { classes[j].append(UInt8(batch.predictions[j])) }
            }
            z = batch.state
        }
        var outcome = BlockOutcome(counts: counts, serializedClasses: classes.flatMap { $0 })
        outcome.nonFiniteSamples = nonFinite
        return outcome
    }

    /// One audit unit: the base classifier (from zero) on the estimation samples at audit positions
    /// `auditPositions[range]`, in order.
    public func audit(image: Tensor, index: Int, positions range: Range<Int>) -> AuditOutcome {
        let c = configuration
        let layout = c.layout(.estimation)
        let positions = Array(auditPositions(image: index, count: range.upperBound)[range])
        let per = image.count, k = positions.count
        guard k > 0 else { return AuditOutcome(baseClasses: [], sampleEvaluations: 0, divergedSamples: 0) }
        var x = Tensor(shape: [k] + image.shape)
        x.withUnsafeMutableBufferPointer { p in
            image.withUnsafeBufferPointer { q in
                for (j, i) in positions.enumerated() {
                    let slot = p.baseAddress! + j * per
                    slot.update(from: q.baseAddress!, count: per)
                    let (chain, step) = layout.chainAndStep(ofSample: i)
                    addNoise(to: slot, count: per, index: index, phase: .estimation, chain: chain, step: step)
                }
            }
        }
        let batch = model.classify(x, start: nil, solver: c.baseSolver)
        return AuditOutcome(
            baseClasses: batch.predictions.map { UInt8(clamping: $0) },
            sampleEvaluations: Int64(batch.evaluations * k),
            divergedSamples: Int64(batch.diverged.filter { $0 }.count),
            nonFiniteSamples: batch.predictions.filter { $0 < 0 }.count)
    }

    /// The audit units of stage s (0-based): positions [K_{s−1}, K_s) in slices of `chainsPerBlock`.
    public func auditUnits(stage s: Int) -> [Range<Int>] {
        let stages = configuration.auditStages
        let lo = s == 0 ? 0 : stages[s - 1], hi = stages[s], step = configuration.chainsPerBlock
        return stride(from: lo, to: hi, by: step).map { $0..<min($0 + step, hi) }
    }

    /// Whether an image whose audit ran `stagesRun` stages goes on to the next: only for the audit radius, only
    /// where a next stage is planned, and only where N_A ≥ `auditEscalation`·N (where the audit's disagreement
    /// bound, not the sampling of N_A, is what limits p̲A).
    public func shouldEscalate(selected cA: Int, estimation: SampleCounts, stagesRun: Int) -> Bool {
        let c = configuration
        return c.mode == .srs && c.radius == .audit && stagesRun < c.auditStages.count
            && Double(estimation.counts[cA]) >= c.auditEscalation * Double(estimation.samples)
    }

    /// Sum of a phase's units (single process, in block order), with the serialized classes in chain-major order.
    public func runPhase(image: Tensor, index: Int, phase: SmoothingPhase) -> BlockOutcome {
        configuration.blocks(phase).reduce(BlockOutcome(counts: SampleCounts(classes: model.classes), serializedClasses: [])) {
            $0 + run(image: image, index: index, phase: phase, block: $1)
        }
    }

    /// CERTIFY for one image (single process): selection → ĉA → estimation → audit (escalating as needed) → certificate.
    public func certify(image: Tensor, index: Int) throws -> ImageCertification {
        let t0 = Date()
        try checkFinite(image, index)
        let selection = runPhase(image: image, index: index, phase: .selection).counts
        let estimation = runPhase(image: image, index: index, phase: .estimation)
        var record: SerializedRecord? = nil
        var auditCounts = SampleCounts(classes: model.classes)
        if configuration.mode == .srs {
            var r = SerializedRecord(serialized: estimation.serializedClasses, audited: [])
            for s in configuration.auditStages.indices {
                if s > 0 && !shouldEscalate(selected: selection.topClass, estimation: estimation.counts, stagesRun: s) { break }
                for range in auditUnits(stage: s) {
                    let a = audit(image: image, index: index, positions: range)
                    r.audited += a.baseClasses
                    auditCounts.sampleEvaluations += a.sampleEvaluations
                    auditCounts.divergedSamples += a.divergedSamples
                }
            }
            record = r
        }
        let result = try finish(index: index, selection: selection, estimation: estimation.counts, record: record)
        return ImageCertification(
            certificate: result.certificate, selection: selection, estimation: result.estimation,
            audit: auditCounts, record: record, auditBound: result.auditBound,
            seconds: Date().timeIntervalSince(t0))
    }

    /// The certificate from merged counts and (SRS) the record (what the root does after a distributed run).
    /// Returns the estimation counts with the paper's check tallies filled in from the audit's first stage.
    public func finish(
        index: Int, selection: SampleCounts, estimation e: SampleCounts, record: SerializedRecord?
    ) throws
        -> (certificate: Certificate, estimation: SampleCounts, auditBound: AuditBound?)
    {
        let cA = selection.topClass
        let c = configuration
        let sigma = Double(c.sigma)
        guard c.mode == .srs, let record else {
            return (try CertificateEstimator.standard(selected: cA, estimation: e, sigma: sigma, alpha: c.alpha), e, nil)
        }
        return try SerializedCertificate.compute(
            selected: cA, estimation: e, record: record,
            positions: auditPositions(image: index, count: record.audited.count),
            configuration: c)
    }

    /// PREDICT for one image (standard mode only): the class or −1 (abstain).
    public func predict(image: Tensor, index: Int) throws -> (prediction: Int, counts: SampleCounts) {
        try checkFinite(image, index)
        let counts = runPhase(image: image, index: index, phase: .prediction).counts
        return (try CertificateEstimator.predict(counts, alpha: configuration.alpha), counts)
    }

    func checkFinite(_ image: Tensor, _ index: Int) throws {
        guard image.isFinite else { throw CertificationError.nonFiniteInput(image: index) }
        guard image.shape == model.inputShape else {
            throw CertificationError.modelMismatch(reason: "image \(index) has shape \(image.shape), the model takes \(model.inputShape)")
        }
    }
}

/// The SRS certificate of one image from its counts and record, for any SRS estimator (also used to recompute
/// radii from a finished run's record at another α or with fewer audit stages).
public enum SerializedCertificate {
    public static func compute(
        selected cA: Int, estimation: SampleCounts, record: SerializedRecord, positions: [Int],
        configuration c: SmoothingConfiguration
    ) throws
        -> (certificate: Certificate, estimation: SampleCounts, auditBound: AuditBound?)
    {
        var e = estimation
        let classes = e.counts.count
        guard record.serialized.count == Int(e.samples), let first = c.auditStages.first, record.audited.count >= first else {
            throw CertificationError.modelMismatch(
                reason:
                    "the record has \(record.serialized.count) serialized and \(record.audited.count) audited samples, the counts \(e.samples) and the first audit stage \(c.auditStages.first ?? 0)"
            )
        }
        let checks = record.checkTallies(positions: positions, first: first, classes: classes)
        e.checkServed = checks.served; e.checkAgree = checks.agree
        let sigma = Double(c.sigma)
        switch c.radius {
        case .audit:
            let tallies = record.tallies(selected: cA, positions: positions, stages: c.auditStages)
            let (cert, bound) = try CertificateEstimator.audit(
                selected: cA, samples: Int(e.samples), selectedCount: Int(e.counts[cA]),
                stages: tallies, plannedStages: c.auditStages.count,
                sigma: sigma, alpha: c.alpha)
            return (cert, e, bound)
        case .paper, .referenceCode:
            return (
                try CertificateEstimator.serialized(
                    selected: cA, estimation: e, sigma: sigma, alpha: c.alpha,
                    estimator: c.radius), e, nil
            )
        case .cohen:
            return (try CertificateEstimator.standard(selected: cA, estimation: e, sigma: sigma, alpha: c.alpha), e, nil)
        }
    }
}

/// What one (image, phase, block) unit returns: its mergeable counts and, in SRS estimation, the serialized class
/// of each counted sample in chain-major order (blocks concatenate in block order).
public struct BlockOutcome: Sendable, Equatable {
    public var counts: SampleCounts
    public var serializedClasses: [UInt8]
    /// Samples whose logits were NaN or infinite (not counted; the caller must refuse the image).
    public var nonFiniteSamples = 0

    public init(counts: SampleCounts, serializedClasses: [UInt8]) { self.counts = counts; self.serializedClasses = serializedClasses }

    public static func + (a: BlockOutcome, b: BlockOutcome) -> BlockOutcome {
        var sum = BlockOutcome(counts: a.counts + b.counts, serializedClasses: a.serializedClasses + b.serializedClasses)
        sum.nonFiniteSamples = a.nonFiniteSamples + b.nonFiniteSamples
        return sum
    }
}

/// What one audit unit returns: the base classes at its positions and the cost.
public struct AuditOutcome: Sendable, Equatable {
    public var baseClasses: [UInt8]
    public var sampleEvaluations: Int64, divergedSamples: Int64
    /// Positions whose logits were NaN or infinite (their base class is meaningless; the caller must refuse the image).
    public var nonFiniteSamples = 0
}

/// Everything CERTIFY learned about one image.
public struct ImageCertification: Sendable {
    public var certificate: Certificate
    public var selection: SampleCounts
    /// Estimation counts (with the paper's check tallies in SRS).
    public var estimation: SampleCounts
    /// The audit's cost (evaluations and diverged solves; no class counts).
    public var audit: SampleCounts
    public var record: SerializedRecord?
    public var auditBound: AuditBound?
    public var seconds: Double
    /// f-evaluations × samples spent on this image.
    public var sampleEvaluations: Int64 { selection.sampleEvaluations + estimation.sampleEvaluations + audit.sampleEvaluations }
}
