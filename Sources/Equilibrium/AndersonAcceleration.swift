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

        // Every evaluation but the last is stored: one pass per running sample stores G and its Gram row and
        // measures the residual for the tracker (`History.store`). G of the last stored iterate (T) is read by no
        // later store (the mixes read F), so it is not written.
        func storeAndRecord(iterate: Int, x: Tensor, fx: Tensor, step: Int) {
            history.store(iterate: iterate, x: x, fx: fx, running: tracker.running, keepG: iterate < config.maxSteps) { sums in
                tracker.record(output: fx, step: step, sums: sums)
            }
        }

        // Step 0: X₀ = z0, F₀ = f(X₀).
        var x = z0
        var fx = try evaluateChecked(f, x)
        storeAndRecord(iterate: 0, x: x, fx: fx, step: 0)
        if tracker.allFrozen { return tracker.finish(shape: z0.shape, kind: .anderson) }

        // Step 0: X₁ = F₀ (shared, not copied; frozen samples are fed their value), F₁ = f(X₁).
        x = fx
        if tracker.runningCount < batch {
            x.withUnsafeMutableBufferPointer { xp in
                for i in 0..<batch where !tracker.running[i] { tracker.feedFrozen(i, into: xp) }
            }
        }
        fx = try evaluateChecked(f, x)
        storeAndRecord(iterate: 1, x: x, fx: fx, step: 0)
        if tracker.allFrozen { return tracker.finish(shape: z0.shape, kind: .anderson) }

        var solver = BorderedSolver(capacity: m)
        for step in 1...config.maxSteps {
            if tracker.allFrozen { break }
            let iterate = step + 1
            let n = min(iterate, m)
            // A new tensor (F's history holds the old ones): every row is written, by the mix or the frozen feed.
            x = history.withFRows(n) { fRows in
                Tensor(shape: z0.shape) { xp in
                    for i in 0..<batch {
                        if tracker.running[i] {
                            let a = solver.weights(
                                gram: history.gram(sample: i), n: n, memory: m,
                                lambda: config.andersonLambda, scaleLambda: config.andersonScaleLambda,
                                newest: (iterate - 1) % m)
                            history.mix(sample: i, weights: a, n: n, beta: beta, fRows: fRows, into: xp)
                        } else {
                            tracker.feedFrozen(i, into: xp)
                        }
                    }
                }
            }
            fx = try evaluateChecked(f, x)
            if step < config.maxSteps {
                storeAndRecord(iterate: iterate, x: x, fx: fx, step: step)
            } else {
                tracker.record(input: x, output: fx, step: step)
            }
        }
        return tracker.finish(shape: z0.shape, kind: .anderson)
    }

    /// Per-sample history of the last m pairs (X, F), their G = F − X, and the Gram matrices GGᵀ (Double).
    /// F (and X, kept only when β ≠ 1) are the evaluations' own tensors, [B·D] each, held by reference in a ring of
    /// m slots; G is [B][m][D] (sample-major) and the Gram matrices [B][m][m]. Iterate K lives in slot K % m.
    struct History {
        let batch: Int, dim: Int, memory: Int
        let keepX: Bool  // X is only needed for β ≠ 1 (G = F − X is stored)
        var xs: [Tensor?], fs: [Tensor?]
        var gs: [Float]
        var grams: [Double]
        var valid = 0  // slots holding an iterate (the same for every running sample)

        init(batch: Int, dim: Int, memory: Int, keepX: Bool) {
            self.batch = batch
            self.dim = dim
            self.memory = memory
            self.keepX = keepX
            // Not zero-filled: a slot is written (`store`) before anything reads it (t < valid).
            let count = batch * memory * dim
            gs = [Float](unsafeUninitializedCapacity: count) { _, n in n = count }
            fs = [Tensor?](repeating: nil, count: memory)
            xs = [Tensor?](repeating: nil, count: memory)
            grams = [Double](repeating: 0, count: batch * memory * memory)
        }

        /// Stores iterate `iterate` (X, F: [B·D]) into slot s = iterate % m and, for each sample running before
        /// this evaluation is recorded, in one pass over its D elements: Gₛ = F − X (Float), the Gram row
        /// ⟨Gₛ, Gₜ⟩ (t < valid, Double) and the residual sums (‖Gₛ‖², ‖F‖²) (`fusedStoreSums`), which it hands to
        /// `record` (the tracker) before returning. ‖Gₛ‖² is also the Gram diagonal entry (the same sum).
        /// `keepG` false: Gₛ is not written (no later store will read it; the Gram row is still complete).
        mutating func store(
            iterate: Int, x: Tensor, fx: Tensor, running: [Bool], keepG: Bool = true,
            record: (UnsafeBufferPointer<(diff: Double, norm: Double)>) -> Void
        ) {
            let slot = iterate % memory
            valid = min(iterate + 1, memory)
            fs[slot] = fx
            if keepX { xs[slot] = x }
            let (batch, dim, memory, valid) = (batch, dim, memory, valid)
            withUnsafeTemporaryAllocation(of: (diff: Double, norm: Double).self, capacity: batch) { sums in
                withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: valid) { others in
                    withUnsafeTemporaryAllocation(of: Double.self, capacity: valid) { dots in
                        x.withUnsafeBufferPointer { xp in
                            fx.withUnsafeBufferPointer { fp in
                                gs.withUnsafeMutableBufferPointer { G in
                                    grams.withUnsafeMutableBufferPointer { H in
                                        for i in 0..<batch where running[i] {
                                            let row = i * dim
                                            let gRow = G.baseAddress! + (i * memory + slot) * dim
                                            var k = 0
                                            for t in 0..<valid where t != slot {
                                                others[k] = UnsafePointer(G.baseAddress! + (i * memory + t) * dim)
                                                k += 1
                                            }
                                            sums[i] = fusedStoreSums(
                                                x: xp.baseAddress! + row, f: fp.baseAddress! + row, g: gRow, storeG: keepG,
                                                others: UnsafeBufferPointer(rebasing: others[0..<k]),
                                                dots: dots.baseAddress!, dim: dim)
                                            let h = i * memory * memory
                                            k = 0
                                            for t in 0..<valid {
                                                let s: Double
                                                if t == slot {
                                                    s = sums[i].diff
                                                } else {
                                                    s = dots[k]
                                                    k += 1
                                                }
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
                record(UnsafeBufferPointer(sums))
            }
        }

        /// Sample i's Gram matrix, m×m row-major (only the leading n×n block is meaningful).
        func gram(sample i: Int) -> ArraySlice<Double> {
            grams[(i * memory * memory)..<((i + 1) * memory * memory)]
        }

        /// Calls `body` with the base addresses of slots 0..<n of F and, when kept, X ([2n]: F first, then X;
        /// X's entries repeat F's when β = 1, and are not read then).
        func withFRows<R>(_ n: Int, _ body: (UnsafeBufferPointer<UnsafePointer<Float>>) throws -> R) rethrows -> R {
            try withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: 2 * n) { rows in
                func nest(_ t: Int) throws -> R {
                    if t == 2 * n { return try body(UnsafeBufferPointer(rows)) }
                    let source = t < n ? fs[t]! : (keepX ? xs[t - n]! : fs[t - n]!)
                    return try source.withUnsafeBufferPointer { p in
                        rows[t] = p.baseAddress!
                        return try nest(t + 1)
                    }
                }
                return try nest(0)
            }
        }

        /// Writes X_new = β Σ aₜFₜ + (1 − β) Σ aₜXₜ (t < n) into sample i's row of `out`; per element, the n products
        /// (then the n X products) are summed over t in Double, in that order, then rounded to Float. Four
        /// 4-element groups at a time (independent elements, so the sums of each element are the same).
        /// `rows`: slot t's [B·D] base address for F (t < n) and X (n + t), from `withFRows`.
        func mix(
            sample i: Int, weights a: [Double], n: Int, beta: Double, fRows rows: UnsafeBufferPointer<UnsafePointer<Float>>,
            into out: UnsafeMutableBufferPointer<Float>
        ) {
            let dim = dim
            let dst = out.baseAddress! + i * dim
            let row = i * dim
            withUnsafeTemporaryAllocation(of: SIMD4<Double>.self, capacity: 2 * n) { w in
                withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: 2 * n) { src in
                    for t in 0..<n {
                        w[t] = SIMD4<Double>(repeating: beta * a[t])
                        w[n + t] = SIMD4<Double>(repeating: (1 - beta) * a[t])
                        src[t] = rows[t] + row
                        src[n + t] = rows[n + t] + row
                    }
                    let terms = beta != 1 ? 2 * n : n
                    @inline(__always)
                    func load(_ t: Int, _ j: Int) -> SIMD4<Double> {
                        widen(UnsafeRawPointer(src[t] + j).loadUnaligned(as: SIMD4<Float>.self))
                    }
                    @inline(__always)
                    func put(_ acc: SIMD4<Double>, _ j: Int) {
                        let v = SIMD4<Float>(Float(acc[0]), Float(acc[1]), Float(acc[2]), Float(acc[3]))
                        UnsafeMutableRawPointer(dst + j).storeBytes(of: v, as: SIMD4<Float>.self)
                    }
                    var j = 0
                    while j + 16 <= dim {
                        var acc0 = SIMD4<Double>(), acc1 = SIMD4<Double>()
                        var acc2 = SIMD4<Double>(), acc3 = SIMD4<Double>()
                        for t in 0..<terms {
                            let wt = w[t]
                            acc0 += wt * load(t, j)
                            acc1 += wt * load(t, j + 4)
                            acc2 += wt * load(t, j + 8)
                            acc3 += wt * load(t, j + 12)
                        }
                        put(acc0, j)
                        put(acc1, j + 4)
                        put(acc2, j + 8)
                        put(acc3, j + 12)
                        j += 16
                    }
                    while j + 4 <= dim {
                        var acc = SIMD4<Double>()
                        for t in 0..<terms { acc += w[t] * load(t, j) }
                        put(acc, j)
                        j += 4
                    }
                    while j < dim {
                        var acc = 0.0
                        for t in 0..<n {
                            acc += beta * a[t] * Double(src[t][j])
                            if beta != 1 { acc += (1 - beta) * a[t] * Double(src[n + t][j]) }
                        }
                        dst[j] = Float(acc)
                        j += 1
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
