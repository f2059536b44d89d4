/// The robust penalties of ProTransformer (docs/models.md §3) as IRLS weights w(r) of a residual distance
/// r = ‖Z_i − V_j‖₂, with ε keeping every weight finite. Row normalisation removes constant factors, so only the
/// shape of w matters:
///
///     L1:            w = 1/(r + ε)
///     Huber(δ):      w = min(1, δ/(r + ε))
///     MCP(γ):        w = max(ε, 1/(r + ε) − 1/γ)
///     Huber-MCP(δ,γ): w = clamp((δ/(γ − δ))·(γ/(r + ε) − 1), ε, 1),  γ > δ
///
/// δ and γ are absolute distances in value space (calibrate them per model: `DistanceCalibration`).
public enum RobustPenalty: Sendable, Equatable, CustomStringConvertible {
    case l1
    case huber(delta: Float)
    case mcp(gamma: Float)
    case huberMCP(delta: Float, gamma: Float)

    /// Check the parameters: positive and finite, γ > δ for Huber-MCP.
    public func validate() throws(RobustAttentionError) {
        func positive(_ name: String, _ v: Float) throws(RobustAttentionError) {
            guard v.isFinite, v > 0 else { throw .invalidParameter(name: name, value: "\(v)", reason: "must be a positive finite distance") }
        }
        switch self {
        case .l1: return
        case .huber(let d): try positive("delta", d)
        case .mcp(let g): try positive("gamma", g)
        case .huberMCP(let d, let g):
            try positive("delta", d); try positive("gamma", g)
            guard g > d else { throw .invalidParameter(name: "gamma", value: "\(g)", reason: "Huber-MCP needs γ > δ (δ = \(d))") }
        }
    }

    /// w(r).
    @inlinable public func weight(_ r: Float, epsilon e: Float) -> Float {
        switch self {
        case .l1: return 1 / (r + e)
        case .huber(let d): return Swift.min(1, d / (r + e))
        case .mcp(let g): return Swift.max(e, 1 / (r + e) - 1 / g)
        case .huberMCP(let d, let g): return Swift.min(1, Swift.max(e, (d / (g - d)) * (g / (r + e) - 1)))
        }
    }

    /// dw/dr (0 where the weight is clamped; the one-sided value at a kink is taken from the clamped side).
    @inlinable public func weightDerivative(_ r: Float, epsilon e: Float) -> Float {
        let inv = 1 / (r + e)
        switch self {
        case .l1: return -inv * inv
        case .huber(let d): return d * inv < 1 ? -d * inv * inv : 0
        case .mcp(let g): return inv - 1 / g > e ? -inv * inv : 0
        case .huberMCP(let d, let g):
            let c = d / (g - d), u = c * (g * inv - 1)
            return u > e && u < 1 ? -c * g * inv * inv : 0
        }
    }

    public var description: String {
        switch self {
        case .l1: return "l1"
        case .huber(let d): return "huber(δ=\(d))"
        case .mcp(let g): return "mcp(γ=\(g))"
        case .huberMCP(let d, let g): return "huber-mcp(δ=\(d), γ=\(g))"
        }
    }
}

/// Errors of the robust attention layer: one line each, naming the parameter.
public enum RobustAttentionError: Error, CustomStringConvertible, Sendable, Equatable {
    case invalidParameter(name: String, value: String, reason: String)
    case noAttention(model: String)

    public var description: String {
        switch self {
        case let .invalidParameter(name, value, reason): return "invalid --\(name) \(value): \(reason)"
        case let .noAttention(model): return "\(model) has no attention layers: robust attention does not apply"
        }
    }
}
