import NeuralNet
import TensorCore

/// A BERT-style post-LayerNorm encoder (BERT, MiniLM): embeddings, then `layerCount` `BertLayer`s.
///
///     h0 = LN_emb(word[ids] + pos[0..<T] + type[0]);  h_{l+1} = layer_l(h_l, key mask)
///
/// Parameters are registered in one `ParameterStore` under the Hugging Face checkpoint names without the
/// `bert.` prefix (`embeddings.*`, `encoder.layer.L.*`), so `ParameterStore.load(from:)` reads a checkpoint
/// with shape checks. Input: a `TokenBatch` (ids and mask [B, T]); output: last hidden states [B, T, H].
public struct BertEncoder: Sendable {
    public let configuration: BertConfiguration
    public let embeddings: BertEmbeddings
    /// The blocks; set `layers[l].attention.combiner` to change one layer's attention rule.
    public var layers: [BertLayer]

    /// Register the encoder's parameters in `p`. Weights and embeddings are drawn from `initializer`
    /// (default N(0, initializerRange²), BERT's); LayerNorms start at γ = 1, β = 0.
    public init(_ configuration: BertConfiguration, in p: ParameterStore, initializer: Initializer? = nil) {
        self.configuration = configuration
        let initial = initializer ?? .normal(std: configuration.initializerRange)
        embeddings = BertEmbeddings("embeddings", configuration: configuration, in: p, initializer: initial)
        layers = (0..<configuration.layerCount).map {
            BertLayer("encoder.layer.\($0)", configuration: configuration, in: p, weightInit: initial)
        }
    }

    /// Last hidden states [B, T, H] with the cache for `backward` (children: embeddings, then each layer).
    public func forward(_ batch: TokenBatch, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        var (h, ce) = embeddings.forward(batch, p)
        var caches = [ce]
        caches.reserveCapacity(layers.count + 1)
        for layer in layers {
            let (y, c) = layer.forward(h, keyMask: batch.attentionMask, p)
            caches.append(c)
            h = y
        }
        return (h, LayerCache(children: caches))
    }

    /// Inference: last hidden states [B, T, H]; each layer's cache is dropped as soon as the layer returns.
    public func callAsFunction(_ batch: TokenBatch, _ p: ParameterStore) -> Tensor {
        var h = embeddings.forward(batch, p).output
        for layer in layers { h = layer.forward(h, keyMask: batch.attentionMask, p).output }
        return h
    }

    /// Given dL/d(last hidden states) [B, T, H], accumulate every parameter's gradient (embedding rows by
    /// scatter-add) and return dL/d(input embedding sums) [B, T, H].
    @discardableResult
    public func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor {
        var g = dy
        for l in stride(from: layers.count - 1, through: 0, by: -1) {
            g = layers[l].backward(g, cache.children[l + 1], p)
        }
        return embeddings.backward(g, cache.children[0], p)
    }
}
