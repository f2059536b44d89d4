import Equilibrium
import Foundation
import TensorCore

/// Randomized smoothing of any `SmoothableClassifier` (serialized smoothing needs a DEQ), as pure units of work
/// (image, phase, chain block) → `SampleCounts`.
///
/// A unit's counts depend only on (configuration, model, image, phase, block), never on the world size or on
/// what else ran: noise for sample (chain c, step t) comes from the counter-based stream keyed by
/// (seed, image, phase, c, t), the batch is always the block's `chainsPerBlock` chains, and solvers do
/// per-sample arithmetic. Standard and SRS modes draw the same noise, so they can be compared sample by sample.
public struct Smoothing<Classifier: SmoothableClassifier>: Sendable {
    public let model: Classifier
    public let configuration: SmoothingConfiguration

    public init(model: Classifier, configuration: SmoothingConfiguration) throws(CertificationError) {
        try configuration.validate()
        if configuration.mode == .srs && !model.supportsSerializedSmoothing {
            throw .invalidSetting(name: "mode", value: "srs",
                                  reason: "serialized smoothing needs a model with a fixed-point state (a DEQ); use --mode standard")
        }
        self.model = model
        self.configuration = configuration
    }

    /// The K check samples of an image: a seeded random subset of the estimation phase's serialized samples.
    public func checkSubset(image: Int) -> Set<Int> {
        let layout = configuration.layout(.estimation)
        var s = RandomStream(seed: configuration.seed, example: UInt32(image), phase: SmoothingPhase.checkSubset.rawValue)
        return Set(s.sample(configuration.checkCount, from: layout.serializedSamples))
    }

    /// One unit of work. `image` is one image [H, W, C] in [0,1]. No ĉA is needed: the check tallies are kept
    /// per class, and the class is chosen when the counts are aggregated (so estimation need not wait for selection).
    public func run(image: Tensor, index: Int, phase: SmoothingPhase, block: Int, checkSubset: Set<Int>? = nil) -> SampleCounts {
        let c = configuration
        let layout = c.layout(phase)
        let chainRange = layout.chainRange(ofBlock: block)
        let b = c.chainsPerBlock
        let per = image.count
        var counts = SampleCounts(classes: model.classes)
        // The clean image repeated over the block's chains.
        var clean = Tensor(shape: [b] + image.shape)
        clean.withUnsafeMutableBufferPointer { p in image.withUnsafeBufferPointer { q in
            for j in 0..<b { (p.baseAddress! + j * per).update(from: q.baseAddress!, count: per) }
        } }
        let serialized = c.isSerialized(phase)
        let checks = serialized && phase == .estimation ? (checkSubset ?? self.checkSubset(image: index)) : []
        var checkInputs: [Float] = [], checkPredictions: [Int] = []
        var z: Tensor? = nil
        for t in 0..<layout.maxLength {
            var x = clean
            x.withUnsafeMutableBufferPointer { p in
                for j in 0..<b {
                    var s = RandomStream(seed: c.seed, example: UInt32(index), phase: phase.rawValue,
                                         chain: UInt32(chainRange.lowerBound + j), step: UInt32(t))
                    var noise = [Float](repeating: 0, count: per)
                    noise.withUnsafeMutableBufferPointer { s.fillGaussian($0, mean: 0, std: c.sigma) }
                    let slot = p.baseAddress! + j * per
                    for i in 0..<per { slot[i] += noise[i] }
                }
            }
            let solver: SolverConfig
            let start: Tensor?
            if !serialized {
                solver = c.mode == .standard ? c.solver : c.checkSolver
                start = nil
            } else if t == 0 {
                solver = c.warmupSolver
                start = nil
            } else {
                solver = c.solver
                start = z
            }
            let batch = model.classify(x, start: start, solver: solver)
            let predictions = batch.predictions
            counts.sampleEvaluations += Int64(batch.evaluations * b)
            for j in 0..<b {
                let chain = chainRange.lowerBound + j
                guard t < layout.length(ofChain: chain) else { continue }
                counts.counts[predictions[j]] += 1
                counts.samples += 1
                if batch.diverged[j] { counts.divergedSamples += 1 }
                if t >= 1 && !checks.isEmpty && checks.contains(layout.serializedIndex(chain: chain, step: t)) {
                    x.withUnsafeBufferPointer { checkInputs.append(contentsOf: $0[(j * per)..<((j + 1) * per)]) }
                    checkPredictions.append(predictions[j])
                }
            }
            z = batch.state
        }
        if !checkPredictions.isEmpty {
            // Y_g: the same noisy inputs solved from zero by the standard (check) solver.
            let k = checkPredictions.count
            let xs = Tensor(shape: [k] + image.shape, scalars: checkInputs)
            let checked = model.classify(xs, start: nil, solver: c.checkSolver)
            let yg = checked.predictions
            counts.sampleEvaluations += Int64(checked.evaluations * k)
            for i in 0..<k {
                counts.checkServed[checkPredictions[i]] += 1
                if yg[i] == checkPredictions[i] { counts.checkAgree[checkPredictions[i]] += 1 }
            }
        }
        return counts
    }

    /// Sum of a phase's units (single process, in block order).
    public func runPhase(image: Tensor, index: Int, phase: SmoothingPhase) -> SampleCounts {
        let subset = configuration.isSerialized(phase) && phase == .estimation ? checkSubset(image: index) : nil
        return configuration.blocks(phase).reduce(SampleCounts(classes: model.classes)) {
            $0 + run(image: image, index: index, phase: phase, block: $1, checkSubset: subset)
        }
    }

    /// CERTIFY for one image (single process): selection → ĉA → estimation → certificate.
    public func certify(image: Tensor, index: Int) throws -> ImageCertification {
        let t0 = Date()
        try checkFinite(image, index)
        let selection = runPhase(image: image, index: index, phase: .selection)
        let estimation = runPhase(image: image, index: index, phase: .estimation)
        let cert = try finish(selection: selection, estimation: estimation)
        return ImageCertification(certificate: cert, selection: selection, estimation: estimation,
                                  seconds: Date().timeIntervalSince(t0))
    }

    /// The certificate from merged phase counts (what the root does after a distributed run).
    public func finish(selection: SampleCounts, estimation: SampleCounts) throws -> Certificate {
        let cA = selection.topClass
        let c = configuration
        switch c.mode {
        case .standard:
            return try CertificateEstimator.standard(selected: cA, estimation: estimation, sigma: Double(c.sigma), alpha: c.alpha)
        case .srs:
            return try CertificateEstimator.serialized(selected: cA, estimation: estimation, sigma: Double(c.sigma),
                                                       alpha: c.alpha, estimator: c.radius)
        }
    }

    /// PREDICT for one image: the class or −1 (abstain).
    public func predict(image: Tensor, index: Int) throws -> (prediction: Int, counts: SampleCounts) {
        try checkFinite(image, index)
        let counts = runPhase(image: image, index: index, phase: .prediction)
        return (try CertificateEstimator.predict(counts, alpha: configuration.alpha), counts)
    }

    func checkFinite(_ image: Tensor, _ index: Int) throws {
        guard image.isFinite else { throw CertificationError.nonFiniteInput(image: index) }
        guard image.shape == model.inputShape else {
            throw CertificationError.modelMismatch(reason: "image \(index) has shape \(image.shape), the model takes \(model.inputShape)")
        }
    }
}

/// Everything CERTIFY learned about one image.
public struct ImageCertification: Sendable {
    public var certificate: Certificate
    public var selection: SampleCounts
    public var estimation: SampleCounts
    public var seconds: Double
    /// f-evaluations × samples spent on this image.
    public var sampleEvaluations: Int64 { selection.sampleEvaluations + estimation.sampleEvaluations }
}
