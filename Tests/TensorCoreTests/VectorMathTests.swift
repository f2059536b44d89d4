// The vectorised exp and erf against libm over their ranges, and position independence (tails padded).
import Foundation
import Testing

@testable import TensorCore

@Suite("Vector math")
struct VectorMathTests {
    @Test("exp: relative error ≤ 3e-7 on [−87, 88]; erf: absolute error ≤ 6e-7 on [−6, 6]")
    func accuracy() {
        var worstExp = 0.0, worstErf = 0.0
        var x: Float = -87
        while x < 88 {
            let v = VectorMath.exp(VectorMath.V(repeating: x))[3]
            worstExp = max(worstExp, abs(Double(v) - Foundation.exp(Double(x))) / Foundation.exp(Double(x)))
            x += 0.0137
        }
        x = -6
        while x < 6 {
            let v = VectorMath.erf(VectorMath.V(repeating: x))[5]
            worstErf = max(worstErf, abs(Double(v) - Foundation.erf(Double(x))))
            x += 0.00071
        }
        #expect(worstExp <= 3e-7, "exp \(worstExp)")
        #expect(worstErf <= 6e-7, "erf \(worstErf)")
        #expect(VectorMath.exp(VectorMath.V(repeating: -200))[0] < 1e-37)
        #expect(VectorMath.erf(VectorMath.V(repeating: 0))[0] == 0 || abs(VectorMath.erf(VectorMath.V(repeating: 0))[0]) < 6e-7)
    }

    @Test("map: a value's result does not depend on its position (blocks and the padded tail agree)")
    func positionIndependent() {
        let xs: [Float] = (0..<21).map { Float($0) * 0.37 - 3.1 }
        var all = [Float](repeating: 0, count: 21)
        xs.withUnsafeBufferPointer { x in
            all.withUnsafeMutableBufferPointer { y in
                VectorMath.map(21, x.baseAddress!, y.baseAddress!) { VectorMath.erf($0) }
            }
        }
        for i in 0..<21 {
            var one: Float = 0
            [xs[i]].withUnsafeBufferPointer { x in
                withUnsafeMutablePointer(to: &one) { y in
                    VectorMath.map(1, x.baseAddress!, y) { VectorMath.erf($0) }
                }
            }
            #expect(one == all[i])
        }
    }
}
