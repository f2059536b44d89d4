import Testing

@testable import Optimizers

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

@Suite("Learning-rate schedules")
struct ScheduleTests {
    private func close(_ a: Float, _ b: Double) -> Bool { abs(Double(a) - b) <= 1e-6 * max(1, abs(b)) }

    @Test func constant() {
        let s = LearningRateSchedule.constant(0.3)
        #expect(s.lr(step: 0) == 0.3 && s.lr(step: 10_000) == 0.3)
    }

    @Test("cosine: 0 at step 0, linear warm-up, peak at warm-up end, midpoint, floor at the end")
    func cosine() throws {
        let s = LearningRateSchedule.cosine(base: 0.1, warmup: 100, total: 1100, floor: 0.001)
        try s.validate()
        #expect(s.lr(step: 0) == 0)
        #expect(close(s.lr(step: 50), 0.05))
        #expect(close(s.lr(step: 100), 0.1))
        #expect(close(s.lr(step: 600), 0.001 + 0.099 * 0.5))  // p = 1/2: cos(π/2) = 0
        #expect(close(s.lr(step: 350), 0.001 + 0.099 * 0.5 * (1 + cos(Double.pi / 4))))
        #expect(close(s.lr(step: 1100), 0.001) && close(s.lr(step: 5000), 0.001))
        // Monotone non-increasing after warm-up.
        let after = (100...1100).map { s.lr(step: $0) }
        #expect(zip(after, after.dropFirst()).allSatisfy { $0 >= $1 })
    }

    @Test("linear: warm-up then straight line to the floor")
    func linear() throws {
        let s = LearningRateSchedule.linear(base: 2e-5, warmup: 10, total: 110, floor: 0)
        try s.validate()
        #expect(s.lr(step: 0) == 0)
        #expect(close(s.lr(step: 5), 1e-5))
        #expect(close(s.lr(step: 10), 2e-5))
        #expect(close(s.lr(step: 60), 1e-5))
        #expect(close(s.lr(step: 85), 0.5e-5))
        #expect(s.lr(step: 110) == 0 && s.lr(step: 200) == 0)
    }

    @Test("step decay: warm-up, then γ at each milestone")
    func stepDecay() throws {
        let s = LearningRateSchedule.stepDecay(base: 0.1, warmup: 5, milestones: [100, 150], gamma: 0.1)
        try s.validate()
        #expect(close(s.lr(step: 1), 0.02))
        #expect(close(s.lr(step: 5), 0.1) && close(s.lr(step: 99), 0.1))
        #expect(close(s.lr(step: 100), 0.01) && close(s.lr(step: 149), 0.01))
        #expect(close(s.lr(step: 150), 0.001) && close(s.lr(step: 10_000), 0.001))
        let noWarmup = LearningRateSchedule.stepDecay(base: 1, warmup: 0, milestones: [3], gamma: 0.5)
        #expect(noWarmup.lr(step: 0) == 1 && noWarmup.lr(step: 3) == 0.5)
    }

    @Test("validate names the bad field")
    func validation() {
        #expect(throws: OptimizersError.self) {
            try LearningRateSchedule.cosine(base: 0.1, warmup: 10, total: 10, floor: 0).validate()
        }
        #expect(throws: OptimizersError.self) {
            try LearningRateSchedule.linear(base: 0.1, warmup: 0, total: 10, floor: 0.2).validate()
        }
        #expect(throws: OptimizersError.self) {
            try LearningRateSchedule.stepDecay(base: 0.1, warmup: 0, milestones: [5, 5], gamma: 0.1).validate()
        }
        do {
            try LearningRateSchedule.constant(-1).validate()
            Issue.record("negative lr accepted")
        } catch {
            #expect(error.description.contains("lr"))
        }
    }
}
