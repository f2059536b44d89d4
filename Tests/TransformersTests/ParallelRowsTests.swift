import Foundation
import TensorCore
import Testing
import _TestSupport

@testable import Transformers

@Suite("Row-parallel elementwise passes")
struct ParallelRowsTests {
    @Test("chunks cover every row exactly once, for sizes that do and do not split evenly")
    func coverage() {
        for rows in [0, 1, 63, 64, 129, 1000, 40_001] {
            let counts = Counter(rows)
            ParallelRows.forEachChunk(rows: rows, minimumRows: 16) { r in counts.add(r) }
            #expect(counts.values == [Int](repeating: 1, count: rows))
        }
    }

    @Test("GELU and softmax, forward and backward, equal the serial kernels bit for bit")
    func sameAsSerial() {
        var rng = TestRandom(seed: 3)
        let x = rng.tensor([3, 17_001], -4, 4), dy = rng.tensor([3, 17_001])
        var serial = Tensor(shape: x.shape), serialBack = Tensor(shape: x.shape)
        x.withUnsafeBufferPointer { px in
            serial.withUnsafeMutableBufferPointer { py in
                Activation.geluForward(px.count, px.baseAddress!, py.baseAddress!)
            }
        }
        x.withUnsafeBufferPointer { px in
            dy.withUnsafeBufferPointer { pd in
                serialBack.withUnsafeMutableBufferPointer { pb in
                    Activation.geluBackward(px.count, input: px.baseAddress!, pd.baseAddress!, pb.baseAddress!)
                }
            }
        }
        #expect(ParallelRows.gelu(x) == serial)
        #expect(ParallelRows.geluBackward(input: x, dy) == serialBack)

        let s = rng.tensor([700, 33], -3, 3)
        var a = s, reference = s
        a.withUnsafeMutableBufferPointer { ParallelRows.softmax($0.baseAddress!, rows: 700, width: 33) }
        reference.withUnsafeMutableBufferPointer { Softmax.forward(rows: 700, width: 33, $0.baseAddress!, $0.baseAddress!) }
        #expect(a == reference)
        let da = rng.tensor([700, 33])
        var ds = Tensor(shape: [700, 33]), dsRef = Tensor(shape: [700, 33])
        a.withUnsafeBufferPointer { pa in
            da.withUnsafeBufferPointer { pd in
                ds.withUnsafeMutableBufferPointer {
                    ParallelRows.softmaxBackward(output: pa.baseAddress!, pd.baseAddress!, $0.baseAddress!, rows: 700, width: 33)
                }
                dsRef.withUnsafeMutableBufferPointer {
                    Softmax.backward(rows: 700, width: 33, output: pa.baseAddress!, pd.baseAddress!, $0.baseAddress!)
                }
            }
        }
        #expect(ds == dsRef)
    }
}

/// Thread-safe per-row visit counts.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [Int]
    init(_ n: Int) { values = [Int](repeating: 0, count: n) }
    func add(_ r: Range<Int>) { lock.withLock { for i in r { values[i] += 1 } } }
}
