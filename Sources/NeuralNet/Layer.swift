import TensorCore

/// What a layer's forward pass keeps for its backward pass.
public struct LayerCache: Sendable {
    /// Saved tensors (inputs, outputs, statistics), layer-specific.
    public var tensors: [Tensor]
    /// Caches of sub-layers (for compositions).
    public var children: [LayerCache]
    public init(tensors: [Tensor] = [], children: [LayerCache] = []) {
        self.tensors = tensors
        self.children = children
    }
}

/// A differentiable map with parameters in a shared `ParameterStore`.
///
/// The cache is explicit (returned by `forward`, passed to `backward`) so the same layer can be applied
/// many times (a DEQ applies f dozens of times) and differentiated at any of those points.
public protocol Layer: Sendable {
    /// y = layer(x); the cache holds what `backward` needs.
    func forward(_ x: Tensor, _ parameters: ParameterStore) -> (output: Tensor, cache: LayerCache)
    /// Given dL/dy, accumulate dL/dθ into `parameters.gradients` and return dL/dx.
    func backward(_ gradOutput: Tensor, _ cache: LayerCache, _ parameters: ParameterStore) -> Tensor
}

extension Layer {
    /// Inference: the output only.
    public func callAsFunction(_ x: Tensor, _ parameters: ParameterStore) -> Tensor {
        forward(x, parameters).output
    }
}

/// Layers applied in order; the cache keeps one child per layer.
public struct Sequential: Layer {
    public var layers: [any Layer]
    public init(_ layers: [any Layer]) { self.layers = layers }

    public func forward(_ x: Tensor, _ p: ParameterStore) -> (output: Tensor, cache: LayerCache) {
        var h = x
        var caches: [LayerCache] = []
        caches.reserveCapacity(layers.count)
        for l in layers {
            let (y, c) = l.forward(h, p)
            caches.append(c)
            h = y
        }
        return (h, LayerCache(children: caches))
    }

    public func backward(_ dy: Tensor, _ cache: LayerCache, _ p: ParameterStore) -> Tensor {
        var g = dy
        for i in stride(from: layers.count - 1, through: 0, by: -1) {
            g = layers[i].backward(g, cache.children[i], p)
        }
        return g
    }
}
