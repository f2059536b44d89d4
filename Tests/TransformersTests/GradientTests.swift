import NeuralNet
import TensorCore
import Testing
import _TestSupport

@testable import Transformers

/// Attention with a fixed key mask, seen as a `Layer` so the shared finite-difference checker applies.
struct MaskedAttention: Layer {
    let attention: MultiHeadSelfAttention
    let mask: [Float]
    func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        attention.forward(x, keyMask: mask, p)
    }
    func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor { attention.backward(dy, cache, p) }
}

/// A BERT block with a fixed key mask, as a `Layer`.
struct MaskedBlock: Layer {
    let block: BertLayer
    let mask: [Float]
    func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        block.forward(x, keyMask: mask, p)
    }
    func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor { block.backward(dy, cache, p) }
}

/// A·V with fixed V (gradient in A) or fixed A (gradient in V).
struct CombinerInA: Layer {
    let v: Tensor
    func forward(_ a: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        WeightedSumCombiner().forward(attention: a, values: v)
    }
    func backward(_ dy: Tensor, _ c: LayerCache, _ p: ParameterStore) -> Tensor { WeightedSumCombiner().backward(dy, c).attention }
}
struct CombinerInV: Layer {
    let a: Tensor
    func forward(_ v: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        WeightedSumCombiner().forward(attention: a, values: v)
    }
    func backward(_ dy: Tensor, _ c: LayerCache, _ p: ParameterStore) -> Tensor { WeightedSumCombiner().backward(dy, c).values }
}

/// Mean pooling over a fixed mask, as a `Layer`.
struct MeanPool: Layer {
    let mask: [Float]
    func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        (SentencePooling.mean(x, mask: mask), LayerCache(tensors: [Tensor(shape: [1], scalars: [Float(x.shape[1])])]))
    }
    func backward(_ dy: Tensor, _ c: LayerCache, _ p: ParameterStore) -> Tensor {
        SentencePooling.meanBackward(dy, mask: mask, length: Int(c.tensors[0].scalars[0]))
    }
}

@Suite("Encoder gradients (finite differences)")
struct GradientTests {
    static let tiny = BertConfiguration(
        vocabularySize: 7, hiddenSize: 8, layerCount: 2, headCount: 2, intermediateSize: 12,
        maxPositions: 6)
    /// Two sequences of length 5; the second has two padding positions.
    static let batch = TokenBatch(
        batchSize: 2, length: 5, ids: [2, 4, 5, 4, 3, 2, 6, 3, 0, 0],
        attentionMask: [1, 1, 1, 1, 1, 1, 1, 1, 0, 0])

    @Test("multi-head attention with a padding mask: input and parameter gradients")
    func attention() {
        let p = ParameterStore(seed: 3)
        let att = MultiHeadSelfAttention("a", hiddenSize: 6, headCount: 2, in: p, weightInit: .normal(std: 0.6))
        var rng = TestRandom(seed: 11)
        let x = rng.tensor([2, 4, 6])
        let e = layerGradientErrors(MaskedAttention(attention: att, mask: [1, 1, 1, 1, 1, 1, 0, 0]), p, input: x, step: 1e-2)
        #expect(e.input < 5e-3 && e.parameters < 5e-3, "\(e)")
    }

    @Test("padding keys do not influence real tokens' outputs")
    func maskIsolation() {
        let p = ParameterStore(seed: 3)
        let att = MultiHeadSelfAttention("a", hiddenSize: 6, headCount: 2, in: p, weightInit: .normal(std: 0.6))
        var rng = TestRandom(seed: 12)
        let x = rng.tensor([1, 5, 6])
        let mask: [Float] = [1, 1, 1, 0, 0]
        var x2 = x
        for i in 3..<5 { for j in 0..<6 { x2[0, i, j] += 5 } }
        let y = att.forward(x, keyMask: mask, p).output, y2 = att.forward(x2, keyMask: mask, p).output
        for i in 0..<3 { for j in 0..<6 { #expect(abs(y[0, i, j] - y2[0, i, j]) < 1e-6) } }
        // …while without the mask they do.
        let z = att.forward(x, keyMask: [1, 1, 1, 1, 1], p).output, z2 = att.forward(x2, keyMask: [1, 1, 1, 1, 1], p).output
        #expect(abs(z[0, 0, 0] - z2[0, 0, 0]) > 1e-3)
    }

    @Test("A·V combiner: gradients in A and in V")
    func combiner() {
        var rng = TestRandom(seed: 5)
        let a = rng.tensor([3, 4, 4], 0, 1), v = rng.tensor([3, 4, 2])
        let p = ParameterStore()
        #expect(layerGradientErrors(CombinerInA(v: v), p, input: a).input < 1e-3)
        #expect(layerGradientErrors(CombinerInV(a: a), p, input: v).input < 1e-3)
    }

    @Test("GELU (exact) and LayerNorm with BERT's eps 1e-12")
    func geluAndLayerNorm() {
        var rng = TestRandom(seed: 9)
        let p = ParameterStore()
        #expect(layerGradientErrors(GELU(), p, input: rng.tensor([3, 7], -3, 3), step: 1e-3).input < 1e-3)
        let q = ParameterStore(seed: 1)
        let ln = LayerNormalization("ln", width: 6, epsilon: 1e-12, in: q)
        q.values = rng.tensor([q.count]).scalars
        let e = layerGradientErrors(ln, q, input: rng.tensor([4, 6]), step: 1e-2)
        #expect(e.input < 5e-3 && e.parameters < 5e-3, "\(e)")
    }

    @Test("mean pooling over the mask")
    func meanPooling() {
        var rng = TestRandom(seed: 4)
        #expect(layerGradientErrors(MeanPool(mask: [1, 1, 0, 1, 0, 0]), ParameterStore(), input: rng.tensor([2, 3, 4])).input < 1e-3)
    }

    @Test("one encoder block with padding: input and parameter gradients")
    func block() {
        let p = ParameterStore(seed: 8)
        let block = BertLayer("l", configuration: Self.tiny, in: p, weightInit: .normal(std: 0.5))
        var rng = TestRandom(seed: 2)
        let e = layerGradientErrors(
            MaskedBlock(block: block, mask: Self.batch.attentionMask), p,
            input: rng.tensor([2, 5, 8]), step: 1e-2)
        #expect(e.input < 1e-2 && e.parameters < 1e-2, "\(e)")
    }

    /// L = ⟨encoder(batch), r⟩ in Double.
    static func probeLoss(_ enc: BertEncoder, _ p: ParameterStore, _ r: Tensor) -> Double {
        probe(enc(batch, p), r)
    }

    @Test("embedding backward: scatter-add into word, position and type rows (repeated ids accumulate)")
    func embeddings() {
        let p = ParameterStore(seed: 5)
        let emb = BertEmbeddings("embeddings", configuration: Self.tiny, in: p, initializer: .normal(std: 1))
        var rng = TestRandom(seed: 6)
        let r = rng.tensor([2, 5, 8])
        let (_, cache) = emb.forward(Self.batch, p)
        p.zeroGradients()
        emb.backward(r, cache, p)
        let analytic = p.gradients
        let saved = p.values
        let fd = finiteDifferenceGradient(saved, step: 1e-2) { v in
            p.values = v
            return probe(emb.forward(Self.batch, p).output, r)
        }
        p.values = saved
        #expect(relativeNormError(analytic, fd) < 5e-3)
        // Rows never read get exactly zero gradient: id 1 is absent, positions 5 and type 1 unused.
        for slot in [emb.word] { #expect(p.gradient(slot).slice(rows: 1..<2).maxAbs() == 0) }
        #expect(p.gradient(emb.position).slice(rows: 5..<6).maxAbs() == 0)
        #expect(p.gradient(emb.tokenType).slice(rows: 1..<2).maxAbs() == 0)
        #expect(p.gradient(emb.word).slice(rows: 4..<5).maxAbs() > 0)  // id 4 appears twice
    }

    @Test("whole tiny encoder (2 layers, padding): every parameter's gradient")
    func wholeEncoder() {
        let p = ParameterStore(seed: 21)
        let enc = BertEncoder(Self.tiny, in: p, initializer: .normal(std: 0.5))
        var rng = TestRandom(seed: 22)
        let r = rng.tensor([2, 5, 8])
        let (y, cache) = enc.forward(Self.batch, p)
        #expect(y == enc(Self.batch, p))  // the inference path computes the same
        p.zeroGradients()
        let dEmb = enc.backward(r, cache, p)
        let analytic = p.gradients
        let saved = p.values
        let fd = finiteDifferenceGradient(saved, step: 1e-2) { v in
            p.values = v
            return Self.probeLoss(enc, p, r)
        }
        p.values = saved
        let err = relativeNormError(analytic, fd)
        #expect(err < 1e-2, "relative gradient error \(err)")
        // The returned input-vector gradient equals the word-embedding gradient summed per id.
        var perID = [Float](repeating: 0, count: 7 * 8)
        for (i, id) in Self.batch.ids.enumerated() { for j in 0..<8 { perID[id * 8 + j] += dEmb.scalars[i * 8 + j] } }
        let word = p.gradient(enc.embeddings.word).scalars
        p.zeroGradients()
        #expect(relativeNormError(perID, word) < 1e-5)
    }

    @Test("accumulatesGradients = false leaves parameter gradients untouched")
    func noAccumulation() {
        let p = ParameterStore(seed: 21)
        let enc = BertEncoder(Self.tiny, in: p, initializer: .normal(std: 0.5))
        let (y, cache) = enc.forward(Self.batch, p)
        p.zeroGradients()
        p.accumulatesGradients = false
        let d = enc.backward(y, cache, p)
        #expect(p.gradients.allSatisfy { $0 == 0 })
        #expect(d.maxAbs() > 0)
    }
}
