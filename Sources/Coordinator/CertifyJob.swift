import Certification
import Datasets
import Distributed
import Equilibrium
import Foundation
import TensorCore

/// CERTIFY over any number of ranks.
///
/// Work units are (image, phase, chain block) — selection blocks, then estimation blocks — and, in SRS, audit
/// units (a slice of the image's audit positions re-solved from zero by the base classifier), image after image,
/// with a fixed batch shape; a dynamic queue hands them to ranks as they finish, so a slow rank does not stall the
/// job. Every unit is a pure function of (model, configuration, image, unit), so the merged counts, the records,
/// the certificates and the report are bit-identical at any rank count.
///
/// The audit's first stage is queued with the image's other units (its positions do not depend on any
/// prediction). Later stages depend on the root's view of the image (escalate where N_A ≥ escalation·N), so
/// adaptive audits run images in windows: pass 1 queues every first-stage unit of the window, the root decides
/// and broadcasts which images escalate, pass 2 queues their next stage. Images that cannot escalate are emitted
/// as soon as they and every earlier image are done; the others after their last stage. Rows stay in image order.
public struct CertifyJob<Classifier: SmoothableClassifier>: Sendable {
    /// One finished image.
    public struct ImageResult: Sendable {
        public var index: Int
        public var label: Int
        public var certificate: Certificate
        public var selection: SampleCounts
        /// Estimation counts (SRS: with the paper's check tallies from the audit's first stage).
        public var estimation: SampleCounts
        /// The audit's cost: evaluations and diverged solves (no class counts).
        public var audit: SampleCounts
        /// SRS: the serialized classes and the audited base classes.
        public var record: SerializedRecord?
        public var auditBound: AuditBound?
        /// Audit stages run (0 in standard mode).
        public var auditStagesRun: Int
        /// Compute seconds summed over the image's units (the per-image cost; independent of interleaving), and
        /// those of each audit stage's units.
        public var seconds: Double
        public var auditStageSeconds: [Double]
        /// f-evaluations × samples of each audit stage's units.
        public var auditStageEvaluations: [Int64]
    }

    /// CERTIFY (selection + estimation (+ audit) → class and radius) or PREDICT (n samples → class or abstention).
    public enum Kind: Sendable { case certify, predict }

    /// A unit of work.
    public enum Unit: Sendable, Equatable {
        case block(image: Int, phase: SmoothingPhase, block: Int)
        /// Audit positions `range` of image position `image`, stage `stage` (0-based).
        case audit(image: Int, stage: Int, range: Range<Int>)
        var image: Int {
            switch self {
            case let .block(i, _, _), let .audit(i, _, _): return i
            }
        }
    }

    public let smoothing: Smoothing<Classifier>
    public let data: ImageDataset
    /// Test-set indices to certify, in report order.
    public let images: [Int]
    public let kind: Kind
    /// Seconds of silence from a rank holding units after which the root aborts the job naming it (`WorkQueue`).
    public var stallTimeout: Double = WorkQueue.defaultStallTimeout

    public init(smoothing: Smoothing<Classifier>, data: ImageDataset, images: [Int], kind: Kind = .certify) {
        self.smoothing = smoothing; self.data = data; self.images = images; self.kind = kind
    }

    var configuration: SmoothingConfiguration { smoothing.configuration }

    /// Whether any image can go beyond the first audit stage.
    var adaptive: Bool { kind == .certify && configuration.mode == .srs && configuration.radius == .audit && configuration.auditStages.count > 1 }

    /// Units a worker holds at once. The root hands out units only between its own, so with 2 an MPI worker
    /// finished both while the root still computed and waited (−10 % at `mpirun -np 2`: rank 1 idle 1.8 of 8 s on
    /// 4 images); with 3 it never runs dry, and since passes end on short units the longer tail costs little.
    static var prefetch: Int { 3 }

    /// Images whose first-pass units are ordered together (long units first; see `firstPassUnits`).
    public static var orderingGroup: Int { 8 }

    /// The first-pass units of image positions `positions`, in delivery order: per group of `orderingGroup`
    /// images, every estimation unit (SRS: a 50-chain block of serialized steps, ≈ 4× an audit unit), then the
    /// selection and audit units. A queue pass then ends on short units, so the ranks finish it together, and a
    /// worker seldom drains its two queued units while the root computes a long one. Each image's estimation and
    /// audit units keep their own order (the record concatenates them); rows still come out in image order, an
    /// image at the latest when its group is done.
    public func firstPassUnits(_ positions: Range<Int>) -> [Unit] {
        let c = configuration
        var u: [Unit] = []
        if kind == .predict {
            for i in positions { for b in c.blocks(.prediction) { u.append(.block(image: i, phase: .prediction, block: b)) } }
            return u
        }
        for start in stride(from: positions.lowerBound, to: positions.upperBound, by: Self.orderingGroup) {
            let group = start..<Swift.min(positions.upperBound, start + Self.orderingGroup)
            for i in group { for b in c.blocks(.estimation) { u.append(.block(image: i, phase: .estimation, block: b)) } }
            for i in group {
                for b in c.blocks(.selection) { u.append(.block(image: i, phase: .selection, block: b)) }
                if c.mode == .srs { for r in smoothing.auditUnits(stage: 0) { u.append(.audit(image: i, stage: 0, range: r)) } }
            }
        }
        return u
    }

    /// Image positions per window: all of them unless the audit is adaptive.
    func windowSize(ranks: Int) -> Int { adaptive ? Swift.max(8, 4 * ranks) : Swift.max(1, images.count) }

    /// The per-image state the root accumulates.
    struct Accumulator {
        var selection: SampleCounts, estimation: SampleCounts, audit: SampleCounts
        var serialized: [UInt8] = [], audited: [UInt8] = []
        var seconds = 0.0
        var stageSeconds: [Double], stageEvaluations: [Int64]
        var unitsLeft: Int
        var stagesRun = 0
        var emitted = false
        init(classes: Int, stages: Int, units: Int) {
            selection = SampleCounts(classes: classes); estimation = selection; audit = selection
            stageSeconds = Array(repeating: 0, count: stages); stageEvaluations = Array(repeating: 0, count: stages)
            unitsLeft = units
        }
    }

    /// Run on `comm`; `emit` is called on the root only, once per image, in image order. For PREDICT the
    /// prediction-phase counts arrive in `estimation` and the certificate's radius is 0.
    public func run(on comm: any Communicator, emit: (ImageResult) throws -> Void) throws -> WorkQueueReport {
        let c = configuration
        let classes = smoothing.model.classes
        let stageCount = Swift.max(1, c.auditStages.count)
        var cachedImage: (Int, Tensor)? = nil
        func image(_ position: Int) throws -> Tensor {
            let index = images[position]
            if let (i, t) = cachedImage, i == index { return t }
            let t = data.images.slice(rows: index..<(index + 1)).reshaped(data.imageShape)
            guard t.isFinite else { throw CertificationError.nonFiniteInput(image: index) }
            cachedImage = (index, t)
            return t
        }
        func compute(_ unit: Unit) throws -> [UInt8] {
            let x = try image(unit.image)
            let index = images[unit.image]
            let t0 = DispatchTime.now().uptimeNanoseconds
            var out: [UInt8]
            switch unit {
            case let .block(_, phase, block):
                let o = smoothing.run(image: x, index: index, phase: phase, block: block)
                guard o.nonFiniteSamples == 0 else { throw CertificationError.nonFiniteLogits(image: index, samples: o.nonFiniteSamples) }
                out = ByteCoding.bytes(of: o.counts.words) + o.serializedClasses
            case let .audit(_, _, range):
                let o = smoothing.audit(image: x, index: index, positions: range)
                guard o.nonFiniteSamples == 0 else { throw CertificationError.nonFiniteLogits(image: index, samples: o.nonFiniteSamples) }
                out = ByteCoding.bytes(of: [o.sampleEvaluations, o.divergedSamples]) + o.baseClasses
            }
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            return ByteCoding.bytes(of: [dt]) + out
        }

        var state: [Int: Accumulator] = [:]
        var nextEmit = 0
        func finishImage(_ position: Int) throws {
            let a = state.removeValue(forKey: position)!
            let index = images[position]
            let result: ImageResult
            if kind == .predict {
                let cert = Certificate(
                    prediction: try CertificateEstimator.predict(a.estimation, alpha: c.alpha),
                    radius: 0, pALower: 0, agreement: 1)
                result = ImageResult(
                    index: index, label: data.labels[index], certificate: cert, selection: a.selection,
                    estimation: a.estimation, audit: a.audit, record: nil, auditBound: nil, auditStagesRun: 0,
                    seconds: a.seconds, auditStageSeconds: [], auditStageEvaluations: [])
            } else {
                let record = c.mode == .srs ? SerializedRecord(serialized: a.serialized, audited: a.audited) : nil
                let (solves, diverged) =
                    c.mode == .srs
                    ? (Int64(a.audited.count), a.audit.divergedSamples)
                    : (a.estimation.samples, a.estimation.divergedSamples)
                if solves > 0 && diverged == solves { throw CertificationError.baseClassifierDiverged(image: index, samples: Int(solves)) }
                let f = try smoothing.finish(index: index, selection: a.selection, estimation: a.estimation, record: record)
                result = ImageResult(
                    index: index, label: data.labels[index], certificate: f.certificate, selection: a.selection,
                    estimation: f.estimation, audit: a.audit, record: record, auditBound: f.auditBound,
                    auditStagesRun: a.stagesRun, seconds: a.seconds,
                    auditStageSeconds: c.mode == .srs ? a.stageSeconds : [],
                    auditStageEvaluations: c.mode == .srs ? a.stageEvaluations : [])
            }
            try emit(result)
        }
        /// Emits, in order, every finished image that can no longer escalate.
        func emitReady(upTo end: Int, escalating: (Int) -> Bool) throws {
            while nextEmit < end, let a = state[nextEmit], a.unitsLeft == 0, !escalating(nextEmit) {
                try finishImage(nextEmit)
                nextEmit += 1
            }
        }
        func deliver(_ unit: Unit, _ bytes: [UInt8], escalating: (Int) -> Bool, end: Int) throws {
            let context = "certify unit result"
            let dt = try ByteCoding.values(of: Array(bytes[0..<8]), as: Double.self, context: context)[0]
            let body = Array(bytes[8...])
            var a = state[unit.image]!
            a.seconds += dt
            switch unit {
            case let .block(_, phase, _):
                let k = 3 * classes + 3
                guard body.count >= 8 * k else { throw DistributedError.malformedMessage(context: context, reason: "short counts") }
                let counts = SampleCounts(
                    words: try ByteCoding.values(of: Array(body[0..<(8 * k)]), as: Int64.self, context: context), classes: classes)
                if phase == .selection { a.selection += counts } else { a.estimation += counts }
                a.serialized += body[(8 * k)...]
            case let .audit(_, stage, _):
                let w = try ByteCoding.values(of: Array(body[0..<16]), as: Int64.self, context: context)
                a.audit.sampleEvaluations += w[0]; a.audit.divergedSamples += w[1]
                a.audited += body[16...]
                a.stageSeconds[stage] += dt; a.stageEvaluations[stage] += w[0]
            }
            a.unitsLeft -= 1
            if a.unitsLeft == 0 { a.stagesRun += c.mode == .srs && kind == .certify ? 1 : 0 }
            state[unit.image] = a
            try emitReady(upTo: end, escalating: escalating)
        }

        var reports: [WorkQueueReport] = []
        let w = windowSize(ranks: comm.size)
        for start in stride(from: 0, to: images.count, by: w) {
            let window = start..<Swift.min(images.count, start + w)
            // Pass 1: selection, estimation, first audit stage. An image may escalate if the audit is adaptive
            // and its decision is not yet known (it is known once its pass-1 units are all in).
            var units = firstPassUnits(window)
            var unitsPerImage = [Int: Int]()
            for u in units { unitsPerImage[u.image, default: 0] += 1 }
            if comm.rank == 0 {
                for i in window { state[i] = Accumulator(classes: classes, stages: stageCount, units: unitsPerImage[i] ?? 0) }
            }
            var stage = 0
            let mayEscalate: (Int) -> Bool = { i in
                guard self.adaptive, let a = state[i] else { return false }
                return self.smoothing.shouldEscalate(selected: a.selection.topClass, estimation: a.estimation, stagesRun: a.stagesRun)
            }
            while true {
                let current = units
                var queue = WorkQueue(unitCount: current.count, prefetch: Self.prefetch)
                queue.stallTimeout = stallTimeout
                reports.append(
                    try queue.run(
                        on: comm, compute: { try compute(current[$0]) },
                        deliver: { try deliver(current[$0], $1, escalating: mayEscalate, end: window.upperBound) }))
                stage += 1
                guard adaptive, stage < stageCount else { break }
                // The root decides which images of the window run stage `stage`; every rank learns the list.
                let escalated = try comm.broadcastVariableLength(comm.rank == 0 ? window.filter { mayEscalate($0) }.map(Int64.init) : [])
                if escalated.isEmpty { break }
                units = escalated.flatMap { i in smoothing.auditUnits(stage: stage).map { Unit.audit(image: Int(i), stage: stage, range: $0) } }
                if comm.rank == 0 {
                    for i in escalated { state[Int(i)]!.unitsLeft = smoothing.auditUnits(stage: stage).count }
                }
            }
            if comm.rank == 0 { try emitReady(upTo: window.upperBound, escalating: { _ in false }) }
        }
        return WorkQueueReport.combining(reports, rank: comm.rank)
    }
}

/// Which test images a run certifies.
public enum CertifyImages {
    /// The test images of a run: every `skip`-th index from 0, at most `max` of them (0 = no limit), then the
    /// shard `shard` of `shards` (strided), minus those already `done`.
    public static func selectImages(
        count: Int, skip: Int, max: Int, shard: Int = 0, shards: Int = 1,
        done: Set<Int> = []
    ) -> [Int] {
        var all = Array(stride(from: 0, to: count, by: Swift.max(1, skip)))
        if max > 0 && all.count > max { all = Array(all.prefix(max)) }
        let mine = ShardPlan(itemCount: all.count, shardCount: shards, layout: .strided).items(inShard: shard).map { all[$0] }
        return mine.filter { !done.contains($0) }
    }
}
