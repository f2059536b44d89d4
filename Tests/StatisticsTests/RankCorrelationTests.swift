import Statistics
import Testing

@Suite("Spearman rank correlation")
struct RankCorrelationTests {
    @Test("Spearman correlation with ties")
    func spearmanValues() {
        #expect(abs(spearman([1, 2, 3, 4], [10, 20, 30, 40])! - 1) < 1e-12)
        #expect(abs(spearman([1, 2, 3, 4], [4, 3, 2, 1])! + 1) < 1e-12)
        #expect(spearman([1, 1, 1], [1, 2, 3]) == nil)
        // scipy.stats.spearmanr([1, 2, 2, 3], [1, 3, 2, 4]).statistic = 0.9486832980505139
        #expect(abs(spearman([1, 2, 2, 3], [1, 3, 2, 4])! - 0.9486832980505139) < 1e-9)
    }
}
