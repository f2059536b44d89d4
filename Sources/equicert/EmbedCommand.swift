import ArgumentParser
import Coordinator
import Datasets
import Foundation
import TensorCore
import Transformers

/// `equicert embed "a sentence" …`: MiniLM sentence embeddings (mean of the last hidden states over real tokens,
/// L2-normalised), one line per sentence: the values, a tab, the sentence. `--benchmark` measures the encoder's
/// forward throughput instead, with its GEMM rate as a fraction of sgemm's in the same run.
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Print MiniLM sentence embeddings (comparable with sentence-transformers' all-MiniLM-L6-v2).")

    @Argument(help: "Sentences to embed (none: read one per line from standard input).") var sentences: [String] = []
    @Option(help: "Model directory with config.json, vocab.txt, model.safetensors (default: the located minilm data).")
    var modelDir: String?
    @Flag(help: "Print every value instead of the first --values.") var full = false
    @Option(help: "Values printed per sentence without --full.") var values: Int = 8
    @Option(help: "Maximum tokens per sentence, [CLS] and [SEP] included (longer text is truncated, with a warning).")
    var maxLength: Int = 128
    @Option(help: "Sentences per forward pass.") var batch: Int = 32
    @Option(help: "OpenBLAS threads (default: all cores).") var threads: Int?
    @Flag(help: "Measure forward throughput on random token ids (--batch × --length) instead of embedding.")
    var benchmark = false
    @Option(help: "Benchmark sequence length.") var length: Int = 128
    @Option(help: "Benchmark seconds per measurement.") var seconds: Double = 3
    @Flag(help: "Benchmark also a training step's forward (with caches) + backward (all parameter gradients).")
    var withBackward = false

    func run() throws {
        try runReportingErrors {
            if let threads { setBLASThreads(threads) }
            guard batch >= 1 else { throw CoordinatorError.invalidOption(name: "batch", value: "\(batch)", reason: "must be at least 1") }
            guard values >= 1 else { throw CoordinatorError.invalidOption(name: "values", value: "\(values)", reason: "must be at least 1") }
            let dir: URL
            if let modelDir {
                dir = URL(fileURLWithPath: modelDir)
            } else {
                dir = try DataLocator.process.locate("minilm", requiring: ["config.json", "vocab.txt", "model.safetensors"])
            }
            let model = try PretrainedEncoder(directory: dir)
            if benchmark { try runBenchmark(model); return }
            // Invalid UTF-8 is an error, not silently repaired: check the raw argument bytes and standard input.
            for i in 1..<Int(CommandLine.argc) {
                guard let arg = CommandLine.unsafeArgv[i] else { continue }
                let bytes = UnsafeBufferPointer(
                    start: UnsafeRawPointer(arg).assumingMemoryBound(to: UInt8.self),
                    count: strlen(arg))
                do { _ = try WordPieceTokenizer.decodeUTF8(bytes) } catch {
                    throw CoordinatorError.invalidOption(name: "sentence", value: "(argument \(i))", reason: "\(error)")
                }
            }
            var texts = sentences
            if texts.isEmpty {
                let input = try WordPieceTokenizer.decodeUTF8(FileHandle.standardInput.readDataToEndOfFile())
                texts = input.split(separator: "\n", omittingEmptySubsequences: false).map {
                    $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
                }
                if texts.last == "" { texts.removeLast() }
            }
            let (e, truncated) = try model.sentenceEmbeddings(texts, maxLength: maxLength, batchSize: batch)
            let h = e.shape[1], shown = full ? h : min(values, h)
            for (i, text) in texts.enumerated() {
                if truncated[i] {
                    FileHandle.standardError.write(Data("equicert: note: sentence \(i + 1) truncated to \(maxLength) tokens\n".utf8))
                }
                var line = (0..<shown).map { String(format: "%.6f", e[i, $0]) }.joined(separator: " ")
                if shown < h { line += " … (\(h) values)" }
                print(line + "\t" + text)
            }
        }
    }

    /// `batch` sequences of `length` random token ids ([CLS] … [SEP], every position attended): benchmark input.
    static func randomTokens(_ model: PretrainedEncoder, batch: Int, length: Int) -> TokenBatch {
        var stream = RandomStream(seed: 42, 7)
        let u = stream.uniform(shape: [batch * length], low: 1000, high: Float(model.configuration.vocabularySize - 1)).scalars
        var ids = u.map { Int($0) }
        for b in 0..<batch { ids[b * length] = model.tokenizer.classID; ids[b * length + length - 1] = model.tokenizer.separatorID }
        return TokenBatch(batchSize: batch, length: length, ids: ids, attentionMask: [Float](repeating: 1, count: batch * length))
    }

    private func runBenchmark(_ model: PretrainedEncoder) throws {
        let c = model.configuration
        guard length >= 2 && length <= c.maxPositions else {
            throw TransformersError.badMaximumLength(value: length, limit: c.maxPositions)
        }
        let tokens = Self.randomTokens(model, batch: batch, length: length)
        // GEMM work per forward: per layer 4 H×H projections + 2 FFN GEMMs over all tokens, and per (sequence, head)
        // q·kᵀ and A·v.
        let n = Double(batch * length), hd = Double(c.hiddenSize), ff = Double(c.intermediateSize), t = Double(length)
        let perLayer = 2 * n * hd * hd * 4 + 2 * n * hd * ff * 2 + 2 * Double(batch * c.headCount) * t * t * Double(c.headSize) * 2
        let flops = perLayer * Double(c.layerCount)
        print(
            "MiniLM forward: batch \(batch) × \(length) tokens, \(c.layerCount) layers, H \(c.hiddenSize); "
                + "OpenBLAS core \(BLAS.coreName), \(BLAS.threadCount) thread(s)")
        var seconds = [Double]()
        _ = model.encoder(tokens, model.parameters)  // warm-up
        let start = DispatchTime.now().uptimeNanoseconds
        repeat {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = model.encoder(tokens, model.parameters)
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        } while Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 < self.seconds || seconds.count < 3
        let best = seconds.min()!, mean = seconds.reduce(0, +) / Double(seconds.count)
        let rate = flops / best * 1e-9
        print(
            String(
                format: "forward: best %.3f s, mean %.3f s over %d runs → %.1f sequences/s, %.0f tokens/s",
                best, mean, seconds.count, Double(batch) / best, n / best))
        print(String(format: "GEMM work: %.2f GFLOP per forward → %.1f GFLOP/s", flops * 1e-9, rate))
        // The same GEMM shapes alone, in this run: their time is the floor the forward could reach.
        let budget = max(0.3, self.seconds / 6)
        let shapes: [(String, Int, Int, Int, Double)] = [
            ("projections H×H", batch * length, c.hiddenSize, c.hiddenSize, 4),
            ("FFN in", batch * length, c.intermediateSize, c.hiddenSize, 1),
            ("FFN out", batch * length, c.hiddenSize, c.intermediateSize, 1),
            ("per-head q·kᵀ", length, length, c.headSize, Double(batch * c.headCount)),
            ("per-head A·v", length, c.headSize, length, Double(batch * c.headCount)),
        ]
        var gemmOnly = 0.0
        for (name, m, nn, k, count) in shapes {
            let r = BenchCommand.gemmRate(m: m, n: nn, k: k, budget: budget)
            gemmOnly += count * 2 * Double(m) * Double(nn) * Double(k) / (r * 1e9) * Double(c.layerCount)
            print(String(format: "  sgemm %@ (M=%d N=%d K=%d): %.1f GFLOP/s", name, m, nn, k, r))
        }
        let big = BenchCommand.gemmRate(m: batch * length, n: c.intermediateSize, k: c.hiddenSize, budget: budget)
        print(
            String(
                format: "GEMM-only time of the same calls: %.3f s = %.0f %% of the forward (GEMM share)",
                gemmOnly, 100 * gemmOnly / best))
        print(String(format: "ratio to the FFN-shape sgemm rate (%.1f GFLOP/s): %.2f", big, rate / big))
        if withBackward {
            let p = model.parameters
            var times = [Double]()
            let start = DispatchTime.now().uptimeNanoseconds
            repeat {
                let t0 = DispatchTime.now().uptimeNanoseconds
                p.zeroGradients()
                let (h, cache) = model.encoder.forward(tokens, p)
                model.encoder.backward(h, cache, p)  // dL/dh = h, i.e. L = ½‖h‖²
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
            } while Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 < self.seconds || times.count < 2
            let b = times.min()!
            print(
                String(
                    format: "forward + backward: best %.3f s over %d runs → %.1f sequences/s, %.1f GFLOP/s (3× forward GEMM work)",
                    b, times.count, Double(batch) / b, 3 * flops / b * 1e-9))
        }
    }
}
