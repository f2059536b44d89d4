import Dispatch
import TensorCore

/// Splits row-wise elementwise work (softmax, GELU) over as many threads as OpenBLAS uses, so the parts of the
/// encoder between GEMMs do not run on one core while the GEMMs use all. With one BLAS thread (one MPI rank
/// per core) it runs inline. Results do not depend on the split (rows are independent).
enum ParallelRows {
    /// A pointer that may cross into the worker closures (each worker touches disjoint rows).
    struct Pointer: @unchecked Sendable {
        let base: UnsafeMutablePointer<Float>
    }

    /// Calls `body(rowRange)` on disjoint chunks covering 0..<rows; chunks have at least `minimumRows` rows.
    static func forEachChunk(rows: Int, minimumRows: Int = 64, _ body: @Sendable (Range<Int>) -> Void) {
        let workers = min(max(1, BLAS.threadCount), max(1, rows / max(1, minimumRows)))
        if workers == 1 { body(0..<rows); return }
        let per = (rows + workers - 1) / workers
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let start = w * per, end = min(rows, start + per)
            if start < end { body(start..<end) }
        }
    }

    /// y = GELU(x) elementwise (exact erf form), n elements.
    static func gelu(_ x: Tensor) -> Tensor {
        var y = Tensor(shape: x.shape)
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                let src = Pointer(base: UnsafeMutablePointer(mutating: px.baseAddress!)), dst = Pointer(base: py.baseAddress!)
                forEachChunk(rows: px.count, minimumRows: 16_384) { r in
                    Activation.geluForward(r.count, src.base + r.lowerBound, dst.base + r.lowerBound)
                }
            }
        }
        return y
    }

    /// dx = dy·GELU′(x) elementwise.
    static func geluBackward(input x: Tensor, _ dy: Tensor) -> Tensor {
        var dx = Tensor(shape: x.shape)
        x.withUnsafeBufferPointer { px in
            dy.withUnsafeBufferPointer { pdy in
                dx.withUnsafeMutableBufferPointer { pdx in
                    let a = Pointer(base: UnsafeMutablePointer(mutating: px.baseAddress!))
                    let g = Pointer(base: UnsafeMutablePointer(mutating: pdy.baseAddress!)), d = Pointer(base: pdx.baseAddress!)
                    forEachChunk(rows: px.count, minimumRows: 16_384) { r in
                        Activation.geluBackward(r.count, input: a.base + r.lowerBound, g.base + r.lowerBound, d.base + r.lowerBound)
                    }
                }
            }
        }
        return dx
    }

    /// Row-wise softmax in place on `rows` rows of `width`.
    static func softmax(_ p: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        let base = Pointer(base: p)
        forEachChunk(rows: rows, minimumRows: max(1, 16_384 / max(width, 1))) { r in
            let q = base.base + r.lowerBound * width
            Softmax.forward(rows: r.count, width: width, q, q)
        }
    }

    /// dS = A ⊙ (dA − ⟨dA, A⟩) row-wise.
    static func softmaxBackward(
        output a: UnsafePointer<Float>, _ da: UnsafePointer<Float>, _ ds: UnsafeMutablePointer<Float>,
        rows: Int, width: Int
    ) {
        let pa = Pointer(base: UnsafeMutablePointer(mutating: a)), pda = Pointer(base: UnsafeMutablePointer(mutating: da))
        let pds = Pointer(base: ds)
        forEachChunk(rows: rows, minimumRows: max(1, 16_384 / max(width, 1))) { r in
            let o = r.lowerBound * width
            Softmax.backward(rows: r.count, width: width, output: pa.base + o, pda.base + o, pds.base + o)
        }
    }
}
