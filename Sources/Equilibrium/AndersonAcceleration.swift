import TensorCore

/// Anderson acceleration (type II, Tikhonov-regularised) with per-sample least squares, as in locuslab/deq and
/// torchdeq (`anderson`, m = 6, λ = 1e-4, β = 1 by default).
///
/// Start ("step 0", 2 evaluations): X₀ = z0, F₀ = f(X₀), X₁ = F₀, F₁ = f(X₁).
/// Step k = 1…T builds iterate K = k + 1 from the last n = min(K, m) pairs (Xᵢ, Fᵢ), Gᵢ = Fᵢ − Xᵢ: per sample solve
///
///     [[0, 1ᵀ], [1, GGᵀ + λI]] · [μ; a] = [1; 0]          (n + 1 unknowns, Double, partial pivoting)
///
/// so Σ aᵢ = 1 and a minimises ‖Σ aᵢGᵢ‖² + λ‖a‖² (λ scaled by tr(GGᵀ)/n if `andersonScaleLambda`); then
/// X_K = β Σ aᵢFᵢ + (1 − β) Σ aᵢXᵢ and F_K = f(X_K) (1 evaluation). T steps cost T + 2 evaluations. The Gram
/// matrix GGᵀ is kept per sample and updated by one row (n dot products of D) per step. If the small system is singular or yields a non-finite a (λ = 0 with repeated
/// iterates), the step falls back to a = e_newest, i.e. X_K = F_{K−1}, a plain fixed-point step.
///
/// Returned value ("the last iterate", certification): F_{T+1} = f(X_{T+1}), the output of the last evaluation —
/// torchdeq's convention (`update_state(…, F[:, k % m], …)`, with `return_final`), and the same rule as the naive
/// solver, so z is always in the range of f (e.g. GroupNorm-normalised for a DEQ block); its reported residual is
/// ‖F_{T+1} − X_{T+1}‖. With `returnLowestResidual` (training) it is the Fᵢ with the lowest residual instead.
///
/// T = 1 and the DEQ section of docs/models.md (§1) "Anderson with T = 1 returns f(z0), like Naive-1": that sentence and "T steps cost T + 2
/// evaluations" cannot both hold for a solver that does useful work with its evaluations — after the 2 start
/// evaluations, f(z0) = X₁ is already superseded by F₁ = f(f(z0)). The sentence describes the released SRS code,
/// whose `anderson(threshold = T)` runs only T − 1 mixing steps (`for k in range(2, threshold + 1)`) and, for
/// T = 1, runs none and hands back the start point unchanged, so any f(z0) there comes from the model applying f
/// after the solver; there, Anderson-1 spends 3 evaluations on the result of one. We follow the costs of docs/certificate.md
/// §4 (Anderson-1 = 3, Anderson-3 = 5 evaluations per serialized step) and make every evaluation count: T = 1 is
/// one genuine mixing step, X₂ = a₀F₀ + a₁F₁ with F₀ = f(z0), F₁ = f(f(z0)), returning f(X₂). Anderson-1 and Naive-1
/// therefore return different values; Naive-1 is the z ← f(z_prev) update.
enum AndersonAcceleration {
    static func solve(
        _ f: (Tensor) throws -> Tensor,
        initial z0: Tensor,
        config: SolverConfig
    ) rethrows -> (z: Tensor, stats: SolverStats) {
        let batch = z0.shape[0]
        let dim = z0.count / batch
        // A solve of T steps stores iterates 0…T, so min(m, T + 2) slots hold every pair it can use: the same
        // n = min(K, m), the same slots K % m and the same weights as with m slots (K < m throughout).
        let m = min(config.andersonMemory, config.maxSteps + 2)
        let beta = config.andersonBeta
        var tracker = SolverSampleTracker(batch: batch, dim: dim, config: config)
        var history = History(batch: batch, dim: dim, memory: m, keepX: beta != 1)

        // Step 0: X₀ = z0, F₀ = f(X₀).
        var x = z0
        var fx = try evaluateChecked(f, x)
        x.withUnsafeBufferPointer { xp in
            fx.withUnsafeBufferPointer { fp in tracker.record(input: xp, output: fp, step: 0) }
        }
        if tracker.allFrozen { return tracker.finish(shape: z0.shape, kind: .anderson) }
        history.store(iterate: 0, x: x, fx: fx, running: tracker.running)

        // Step 0: X₁ = F₀, F₁ = f(X₁).
        fx.withUnsafeBufferPointer { fp in
            x.withUnsafeMutableBufferPointer { xp in
                for i in 0..<batch {
                    if tracker.running[i] {
                        let base = i * dim
                        for j in base..<(base + dim) { xp[j] = fp[j] }
                    } else {
                        tracker.feedFrozen(i, into: xp)
                    }
                }
            }
        }
        fx = try evaluateChecked(f, x)
        x.withUnsafeBufferPointer { xp in
            fx.withUnsafeBufferPointer { fp in tracker.record(input: xp, output: fp, step: 0) }
        }
        if tracker.allFrozen { return tracker.finish(shape: z0.shape, kind: .anderson) }
        history.store(iterate: 1, x: x, fx: fx, running: tracker.running)

        var solver = BorderedSolver(capacity: m)
        for step in 1...config.maxSteps {
            if tracker.allFrozen { break }
            let iterate = step + 1
            let n = min(iterate, m)
            x.withUnsafeMutableBufferPointer { xp in
                for i in 0..<batch {
                    if tracker.running[i] {
                        let a = solver.weights(
                            gram: history.gram(sample: i), n: n, memory: m,
                            lambda: config.andersonLambda, scaleLambda: config.andersonScaleLambda,
                            newest: (iterate - 1) % m)
                        history.mix(sample: i, weights: a, n: n, beta: beta, into: xp)
                    } else {
                        tracker.feedFrozen(i, into: xp)
                    }
                }
            }
            fx = try evaluateChecked(f, x)
            x.withUnsafeBufferPointer { xp in
                fx.withUnsafeBufferPointer { fp in tracker.record(input: xp, output: fp, step: step) }
            }
            if step < config.maxSteps && !tracker.allFrozen {
                history.store(iterate: iterate, x: x, fx: fx, running: tracker.running)
            }
        }
        return tracker.finish(shape: z0.shape, kind: .anderson)
    }

    /// Per-sample ring buffers of the last m pairs (X, F), their G = F − X, and the Gram matrices GGᵀ (Double).
    /// Layout: sample-major, [B][m][D] for X (kept only when β ≠ 1), F, G and [B][m][m] for the Gram matrices.
    /// Iterate K lives in slot K % m.
    struct History {
        let batch: Int, dim: Int, memory: Int
        let keepX: Bool  // X is only needed for β ≠ 1 (G = F − X is stored)
        var xs: [Float], fs: [Float], gs: [Float]
        var grams: [Double]
        var valid = 0  // slots holding an iterate (the same for every running sample)

        init(batch: Int, dim: Int, memory: Int, keepX: Bool) {
            self.batch = batch
            self.dim = dim
            self.memory = memory
            self.keepX = keepX
            // Not zero-filled: a slot is written (`store`) before anything reads it (t < valid). Separate buffers,
            // so the first store does not copy a shared one.
            let count = batch * memory * dim
            func uninitialized() -> [Float] { [Float](unsafeUninitializedCapacity: count) { _, n in n = count } }
            fs = uninitialized()
            gs = uninitialized()
            xs = keepX ? uninitialized() : []
            grams = [Double](repeating: 0, count: batch * memory * memory)
        }

        /// Stores iterate `iterate` (X, F rows of running samples) into slot iterate % m and updates GGᵀ's row.
        mutating func store(iterate: Int, x: Tensor, fx: Tensor, running: [Bool]) {
            let slot = iterate % memory
            valid = min(iterate + 1, memory)
            let (batch, dim, memory, valid, keepX) = (batch, dim, memory, valid, keepX)
            x.withUnsafeBufferPointer { xp in
                fx.withUnsafeBufferPointer { fp in
                    xs.withUnsafeMutableBufferPointer { X in
                        fs.withUnsafeMutableBufferPointer { F in
                            gs.withUnsafeMutableBufferPointer { G in
                                grams.withUnsafeMutableBufferPointer { H in
                                    for i in 0..<batch where running[i] {
                                        let src = i * dim
                                        let dst = (i * memory + slot) * dim
                                        let xRow = xp.baseAddress! + src, fRow = fp.baseAddress! + src
                                        if keepX { (X.baseAddress! + dst).update(from: xRow, count: dim) }
                                        (F.baseAddress! + dst).update(from: fRow, count: dim)
                                        let gRow = G.baseAddress! + dst
                                        for j in 0..<dim { gRow[j] = fRow[j] - xRow[j] }
                                        let h = i * memory * memory
                                        for t in 0..<valid {
                                            let other = (i * memory + t) * dim
                                            let s = dotDouble(G.baseAddress! + dst, G.baseAddress! + other, dim)
                                            H[h + slot * memory + t] = s
                                            H[h + t * memory + slot] = s
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        /// Sample i's Gram matrix, m×m row-major (only the leading n×n block is meaningful).
        func gram(sample i: Int) -> ArraySlice<Double> {
            grams[(i * memory * memory)..<((i + 1) * memory * memory)]
        }

        /// Writes X_new = β Σ aₜFₜ + (1 − β) Σ aₜXₜ (t < n) into sample i's row of `out`; 4 elements at a time,
        /// summed over t in Double registers, then rounded to Float.
        func mix(
            sample i: Int, weights a: [Double], n: Int, beta: Double,
            into out: UnsafeMutableBufferPointer<Float>
        ) {
            let dim = dim
            let dst = out.baseAddress! + i * dim
            let first = i * memory * dim
            fs.withUnsafeBufferPointer { F in
                xs.withUnsafeBufferPointer { X in
                    withUnsafeTemporaryAllocation(of: SIMD4<Double>.self, capacity: 2 * n) { w in
                        for t in 0..<n {
                            w[t] = SIMD4<Double>(repeating: beta * a[t])
                            w[n + t] = SIMD4<Double>(repeating: (1 - beta) * a[t])
                        }
                        let fBase = F.baseAddress! + first
                        let xBase = X.baseAddress! + first
                        var j = 0
                        while j + 4 <= dim {
                            var acc = SIMD4<Double>()
                            for t in 0..<n {
                                acc += w[t] * widen(UnsafeRawPointer(fBase + t * dim + j).loadUnaligned(as: SIMD4<Float>.self))
                            }
                            if beta != 1 {
                                for t in 0..<n {
                                    acc +=
                                        w[n + t]
                                        * widen(UnsafeRawPointer(xBase + t * dim + j).loadUnaligned(as: SIMD4<Float>.self))
                                }
                            }
                            for l in 0..<4 { dst[j + l] = Float(acc[l]) }
                            j += 4
                        }
                        while j < dim {
                            var acc = 0.0
                            for t in 0..<n {
                                acc += beta * a[t] * Double(fBase[t * dim + j])
                                if beta != 1 { acc += (1 - beta) * a[t] * Double(xBase[t * dim + j]) }
                            }
                            dst[j] = Float(acc)
                            j += 1
                        }
                    }
                }
            }
        }
    }

    /// Solves the bordered (n + 1)×(n + 1) system by Gaussian elimination with partial pivoting (scratch reused).
    struct BorderedSolver {
        private var h: [Double]
        private var rhs: [Double]

        init(capacity m: Int) {
            h = [Double](repeating: 0, count: (m + 1) * (m + 1))
            rhs = [Double](repeating: 0, count: m + 1)
        }

        /// Mixing weights a (n of them, summing to 1) for Gram matrix `gram` (m×m, leading n×n used); the
        /// regulariser is λ, or λ·tr(GGᵀ)/n with `scaleLambda`.
        /// Falls back to the one-hot weights on slot `newest` if the system is singular or a is not finite.
        mutating func weights(
            gram: ArraySlice<Double>, n: Int, memory m: Int, lambda lambdaIn: Double,
            scaleLambda: Bool, newest: Int
        ) -> [Double] {
            let size = n + 1
            let g0 = gram.startIndex
            var lambda = lambdaIn
            if scaleLambda {
                var trace = 0.0
                for t in 0..<n { trace += gram[g0 + t * m + t] }
                lambda *= trace / Double(n)
            }
            for r in 0..<size {
                rhs[r] = r == 0 ? 1 : 0
                for c in 0..<size {
                    let v: Double
                    if r == 0 && c == 0 {
                        v = 0
                    } else if r == 0 || c == 0 {
                        v = 1
                    } else {
                        v = gram[g0 + (r - 1) * m + (c - 1)] + (r == c ? lambda : 0)
                    }
                    h[r * size + c] = v
                }
            }
            var ok = true
            for col in 0..<size {
                var pivot = col
                var best = Swift.abs(h[col * size + col])
                for r in (col + 1)..<size where Swift.abs(h[r * size + col]) > best {
                    best = Swift.abs(h[r * size + col])
                    pivot = r
                }
                if !(best > 0) || !best.isFinite { ok = false; break }
                if pivot != col {
                    for c in 0..<size { h.swapAt(col * size + c, pivot * size + c) }
                    rhs.swapAt(col, pivot)
                }
                let d = h[col * size + col]
                for r in (col + 1)..<size {
                    let factor = h[r * size + col] / d
                    if factor == 0 { continue }
                    for c in col..<size { h[r * size + c] -= factor * h[col * size + c] }
                    rhs[r] -= factor * rhs[col]
                }
            }
            var a = [Double](repeating: 0, count: n)
            if ok {
                var sol = [Double](repeating: 0, count: size)
                for r in stride(from: size - 1, through: 0, by: -1) {
                    var s = rhs[r]
                    for c in (r + 1)..<size { s -= h[r * size + c] * sol[c] }
                    sol[r] = s / h[r * size + r]
                }
                for t in 0..<n { a[t] = sol[t + 1] }
                ok = a.allSatisfy { $0.isFinite }
            }
            if !ok {
                for t in 0..<n { a[t] = 0 }
                a[newest] = 1
            }
            return a
        }
    }
}
