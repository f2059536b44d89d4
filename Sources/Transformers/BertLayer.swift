import NeuralNet
import TensorCore

/// One post-LayerNorm BERT encoder block:
///
///     h = LN1(x + attention(x))
///     y = LN2(h + GELU(h·W1ᵀ + b1)·W2ᵀ + b2)          exact (erf) GELU
///
/// Parameters under `<prefix>` = `encoder.layer.L`: `attention.*` (see `MultiHeadSelfAttention`),
/// `attention.output.LayerNorm`, `intermediate.dense` [I, H], `output.dense` [H, I], `output.LayerNorm`.
/// Shapes: x, y [B, T, H]; keyMask [B·T].
public struct BertLayer: Sendable {
    public var attention: MultiHeadSelfAttention
    public let attentionNorm: LayerNormalization
    public let intermediate: Dense, output: Dense
    public let outputNorm: LayerNormalization

    public init(_ prefix: String, configuration c: BertConfiguration, in p: ParameterStore, weightInit: Initializer? = nil) {
        attention = MultiHeadSelfAttention(
            "\(prefix).attention", hiddenSize: c.hiddenSize, headCount: c.headCount,
            in: p, weightInit: weightInit)
        attentionNorm = LayerNormalization(
            "\(prefix).attention.output.LayerNorm", width: c.hiddenSize,
            epsilon: c.layerNormEpsilon, in: p)
        intermediate = Dense(
            "\(prefix).intermediate.dense", inFeatures: c.hiddenSize, outFeatures: c.intermediateSize,
            in: p, weightInit: weightInit)
        output = Dense(
            "\(prefix).output.dense", inFeatures: c.intermediateSize, outFeatures: c.hiddenSize,
            in: p, weightInit: weightInit)
        outputNorm = LayerNormalization("\(prefix).output.LayerNorm", width: c.hiddenSize, epsilon: c.layerNormEpsilon, in: p)
    }

    /// y = block(x); cache tensors [pre-GELU activations], children [attention, LN1, intermediate, output, LN2].
    public func forward(_ x: Tensor, keyMask: [Float], _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        let shape = x.shape, h = shape[2], rows = x.count / h
        let (a, ca) = attention.forward(x, keyMask: keyMask, p)
        let (h1, c1) = attentionNorm.forward(x + a, p)
        let (f1, ci) = intermediate.forward(h1.reshaped([rows, h]), p)
        let g = ParallelRows.gelu(f1)  // exact GELU, rows split over the BLAS threads
        let (f2, co) = output.forward(g, p)
        let (y, c2) = outputNorm.forward(h1 + f2.reshaped(shape), p)
        return (y, LayerCache(tensors: [f1], children: [ca, c1, ci, co, c2]))
    }

    /// dL/dx from dL/dy [B, T, H]; parameter gradients accumulate in `p`.
    public func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor {
        let shape = dy.shape, h = shape[2], rows = dy.count / h
        let c = cache.children
        let dr2 = outputNorm.backward(dy, c[4], p)
        let dg = output.backward(dr2.reshaped([rows, h]), c[3], p)
        let df1 = ParallelRows.geluBackward(input: cache.tensors[0], dg)
        var dh1 = intermediate.backward(df1, c[2], p).reshaped(shape)
        dh1 += dr2
        let dr1 = attentionNorm.backward(dh1, c[1], p)
        var dx = attention.backward(dr1, c[0], p)
        dx += dr1
        return dx
    }
}
