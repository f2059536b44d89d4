import Certification
import Datasets
import Distributed
import Equilibrium
import Foundation
import TensorCore

/// CERTIFY over any number of ranks.
///
/// Work units are (image, phase, chain block) — selection blocks, then estimation blocks, image after image —
/// with a fixed batch shape; a dynamic queue hands them to ranks as they finish, so a slow rank does not stall
/// the job. Every unit is a pure function of (model, configuration, image, phase, block), so the merged counts,
/// the certificates and the report are bit-identical at any rank count. The root merges a unit's counts as it
/// arrives (in unit order) and emits an image's result as soon as its last unit is in.
public struct CertifyJob<Classifier: SmoothableClassifier>: Sendable {
    /// One finished image.
    public struct ImageResult: Sendable {
        public var index: Int
        public var label: Int
        public var certificate: Certificate
        public var selection: SampleCounts
        public var estimation: SampleCounts
        /// Compute seconds summed over the image's units (the per-image cost; independent of interleaving).
        public var seconds: Double
    }

    /// CERTIFY (selection + estimation → class and radius) or PREDICT (n samples → class or abstention).
    public enum Kind: Sendable { case certify, predict }

    public let smoothing: Smoothing<Classifier>
    public let data: ImageDataset
    /// Test-set indices to certify, in report order.
    public let images: [Int]
    public let kind: Kind

    public init(smoothing: Smoothing<Classifier>, data: ImageDataset, images: [Int], kind: Kind = .certify) {
        self.smoothing = smoothing; self.data = data; self.images = images; self.kind = kind
    }

    /// The phases whose blocks make up one image's units.
    var phases: [SmoothingPhase] { kind == .certify ? [.selection, .estimation] : [.prediction] }

    /// (image position, phase, block) of every unit, in delivery order.
    public var units: [(image: Int, phase: SmoothingPhase, block: Int)] {
        let c = smoothing.configuration
        var u: [(Int, SmoothingPhase, Int)] = []
        for i in images.indices {
            for p in phases { for b in c.blocks(p) { u.append((i, p, b)) } }
        }
        return u
    }

    /// Run on `comm`; `emit` is called on the root only, once per image, in image order. For PREDICT the
    /// prediction-phase counts arrive in `estimation` and the certificate's radius is 0.
    public func run(on comm: any Communicator, emit: (ImageResult) throws -> Void) throws -> WorkQueueReport {
        let units = self.units
        let classes = smoothing.model.classes
        let perImage = phases.reduce(0) { $0 + smoothing.configuration.blocks($1).count }
        var selection = SampleCounts(classes: classes), estimation = SampleCounts(classes: classes)
        var seconds = 0.0, received = 0
        var cachedImage: (Int, Tensor)? = nil
        return try WorkQueue(unitCount: units.count).run(on: comm, compute: { u in
            let unit = units[u]
            let index = images[unit.image]
            let image: Tensor
            if let (i, t) = cachedImage, i == index { image = t } else {
                image = data.images.slice(rows: index..<(index + 1)).reshaped(data.imageShape)
                cachedImage = (index, image)
            }
            guard image.isFinite else { throw CertificationError.nonFiniteInput(image: index) }
            let t0 = DispatchTime.now().uptimeNanoseconds
            let counts = smoothing.run(image: image, index: index, phase: unit.phase, block: unit.block)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            return ByteCoding.bytes(of: counts.words) + ByteCoding.bytes(of: [dt])
        }, deliver: { u, bytes in
            let unit = units[u]
            let k = 3 * classes + 3
            let words = try ByteCoding.values(of: Array(bytes[0..<(8 * k)]), as: Int64.self, context: "unit \(u) counts")
            let dt = try ByteCoding.values(of: Array(bytes[(8 * k)...]), as: Double.self, context: "unit \(u) time")[0]
            let counts = SampleCounts(words: words, classes: classes)
            if unit.phase == .selection { selection += counts } else { estimation += counts }
            seconds += dt
            received += 1
            if received == perImage {
                let index = images[unit.image]
                let cert = kind == .certify
                    ? try smoothing.finish(selection: selection, estimation: estimation)
                    : Certificate(prediction: try CertificateEstimator.predict(estimation, alpha: smoothing.configuration.alpha),
                                  radius: 0, pALower: 0, agreement: 1)
                try emit(ImageResult(index: index, label: data.labels[index], certificate: cert, selection: selection,
                                     estimation: estimation, seconds: seconds))
                selection = SampleCounts(classes: classes); estimation = SampleCounts(classes: classes)
                seconds = 0; received = 0
            }
        })
    }
}

/// Which test images a run certifies.
public enum CertifyImages {
    /// The test images of a run: every `skip`-th index from 0, at most `max` of them (0 = no limit), then the
    /// shard `shard` of `shards` (strided), minus those already `done`.
    public static func selectImages(count: Int, skip: Int, max: Int, shard: Int = 0, shards: Int = 1,
                                    done: Set<Int> = []) -> [Int] {
        var all = Array(stride(from: 0, to: count, by: Swift.max(1, skip)))
        if max > 0 && all.count > max { all = Array(all.prefix(max)) }
        let mine = all.enumerated().filter { $0.offset % shards == shard }.map(\.element)
        return mine.filter { !done.contains($0) }
    }
}
