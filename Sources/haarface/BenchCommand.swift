// `haarface bench train|embed`: images per second of a training step or of inference, as JSON, for
// comparison with scripts/bench/torch_train_bench.py (scripts/bench/compare_train.py runs both);
// `haarface bench load`: seconds to load a checkpoint (scripts/bench/checkpoint_load_bench.py).
import ArgumentParser
import Engine
import Foundation
import NN
import Training
#if canImport(Glibc)
import Glibc
#endif

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training or inference speed on random data (prints JSON).",
        discussion: """
            Threads: OMP_NUM_THREADS (default: all cores). Figures are the median of the timed steps \
            after the warm-up steps (oneDNN compiles its kernels on first use).
            """,
        subcommands: [BenchTrain.self, BenchEmbed.self, BenchLoad.self])
}

/// Element type of the convolutional trunk's activations.
extension ConvolutionAlgorithm: ExpressibleByArgument {}

enum BenchPrecision: String, ExpressibleByArgument, CaseIterable {
    case fp32
    /// Images converted to bfloat16: the trunk computes in bf16 (weights, statistics, head in float32),
    /// as PyTorch's bf16 autocast.
    case bf16
}

/// The backbones the benchmarks build: every `Network`.
extension Network: ExpressibleByArgument {
    func build(imageSize: Int) throws -> Module & UnaryLayer {
        guard let depth = iresnetDepth else { return try MobileFaceNet(imageSize: imageSize) }
        return try IResNet(depth: depth, imageHeight: imageSize, imageWidth: imageSize)
    }
}

struct BenchOptions: ParsableArguments {
    @Option(help: "Backbone: \(Network.nameList).")
    var model: Network = .r18

    @Option(help: "Images per step (at least 2: batch norm needs more than one value per channel).")
    var batchSize: Int = 32

    @Option(help: "Input side in pixels, divisible by 16 (MobileFaceNet: 112).")
    var imageSize: Int = 112

    @Option(help: "Timed steps; the median is reported.")
    var steps: Int = 5

    @Option(help: "Untimed steps first.")
    var warmup: Int = 2

    @Option(help: "Trunk precision: fp32, or bf16 (mixed precision: bfloat16 activations, float32 weights).")
    var precision: BenchPrecision = .fp32

    @Option(help: "float32 3x3 stride-1 convolutions: winograd (where oneDNN has it, the default) or direct.")
    var convAlgorithm: ConvolutionAlgorithm = .winograd

    /// The batch as the model takes it in the chosen precision.
    func input(_ images: Tensor) throws -> Tensor {
        precision == .bf16 ? try images.converted(to: .bfloat16) : images
    }

    func validate() throws {
        guard batchSize >= 2 else { throw ValidationError("--batch-size must be at least 2, got \(batchSize)") }
        guard imageSize > 0, imageSize % 16 == 0 else {
            throw ValidationError("--image-size must be a positive multiple of 16 (e.g. 112), got \(imageSize)")
        }
        guard model != .mbf || imageSize == 112 else {
            throw ValidationError("--model mbf takes --image-size 112 (its 7x7 global depthwise conv), got \(imageSize)")
        }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1, got \(steps)") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be >= 0, got \(warmup)") }
    }

    /// Random images in the normalised pixel range [-1, 1], NCHW.
    func images(_ generator: inout SeededGenerator) -> Tensor {
        let count = batchSize * 3 * imageSize * imageSize
        return Tensor(shape: [batchSize, 3, imageSize, imageSize],
                      values: (0..<count).map { _ in Float.random(in: -1...1, using: &generator) })
    }

    /// Runs `step` warm-up + timed times (each returning a value that must be finite) and prints the JSON.
    /// `step` may time its phases with `phases.time(_:_:)`; their medians are reported too.
    func measure(mode: String, flopPerImage: () -> Double, _ step: (PhaseTimer) throws -> Float) throws {
        ConvolutionAlgorithm.current = convAlgorithm
        var seconds: [Double] = []
        var freshBytes: [Int] = []
        var checks: [Float] = []
        var phaseSeconds: [String: [Double]] = [:]
        for index in 0..<(warmup + steps) {
            let phases = PhaseTimer()
            let start = DispatchTime.now().uptimeNanoseconds
            let allocatedBefore = MemoryStatistics.current.allocatedBytes
            let check = try step(phases)
            if index >= warmup { freshBytes.append(MemoryStatistics.current.allocatedBytes - allocatedBefore) }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if index >= warmup { for (name, value) in phases.seconds { phaseSeconds[name, default: []].append(value) } }
            guard check.isFinite else {
                throw ValidationError("step \(index + 1) produced a non-finite value (\(check)): the benchmark is not valid")
            }
            checks.append(check)
            if index >= warmup { seconds.append(elapsed) }
        }
        let median = Self.median(seconds)
        let imagesPerSecond = Double(batchSize) / median
        let flop = flopPerImage()
        let threads = ProcessInfo.processInfo.environment["OMP_NUM_THREADS"].flatMap(Int.init)
            ?? ProcessInfo.processInfo.activeProcessorCount
        let report: [String: Any] = [
            "engine": "haarface \(HaarFaceVersion.current)", "mode": mode, "model": model.rawValue,
            "precision": precision.rawValue, "conv_algorithm": convAlgorithm.rawValue,
            "batch_size": batchSize, "image_size": imageSize, "threads": threads,
            "images_per_second": imagesPerSecond, "gflop_per_image": flop / 1e9,
            "gflops_per_second": imagesPerSecond * flop / 1e9, "step_seconds": seconds,
            "peak_rss_bytes": peakResidentBytes(), "peak_tensor_bytes": MemoryStatistics.current.peakLiveBytes,
            "fresh_tensor_bytes_per_step": freshBytes, mode == "train" ? "losses" : "embedding_checks": checks.map(Double.init),
            "phase_median_seconds": phaseSeconds.mapValues(Self.median),
        ]
        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}

extension BenchOptions {
    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}

/// Wall-clock seconds of the named phases of one step (forward, backward, optimiser).
final class PhaseTimer {
    private(set) var seconds: [String: Double] = [:]

    func time<R>(_ name: String, _ body: () throws -> R) rethrows -> R {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { seconds[name, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        return try body()
    }
}

/// Peak resident set size of this process (getrusage's ru_maxrss, in KiB on Linux).
func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    return Int(usage.ru_maxrss) * 1024
}

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training steps: backbone, normalised linear head (s = 64), cross entropy, SGD.",
        discussion: """
            The head is ArcFace-style without a margin: logits = s * normalize(x) . normalize(W)^T over \
            --classes classes; SGD momentum 0.9, weight decay 5e-4, LR 0.1, two parameter groups \
            (backbone, head). Matches scripts/bench/torch_train_bench.py.
            """)

    @OptionGroup var options: BenchOptions

    @Option(help: "Classes of the head.")
    var classes: Int = 1000

    func validate() throws {
        guard classes >= 2 else { throw ValidationError("--classes must be at least 2, got \(classes)") }
    }

    func run() throws {
        var generator = SeededGenerator(seed: 42)
        let model = try options.model.build(imageSize: options.imageSize)
        let embeddingSize = 512   // both backbones are built with their default embedding size
        let head = NormalisedLinear(name: "head", features: embeddingSize, classes: classes)
        let sgd = try SGD(groups: [
            .init(parameters: model.trainableParameters, learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4),
            .init(parameters: [head.weight], learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4),
        ])
        let images = options.images(&generator)
        let labels = (0..<options.batchSize).map { _ in Int.random(in: 0..<classes, using: &generator) }
        model.train()
        try options.measure(mode: "train", flopPerImage: { 3 * 2 * Double(model.multiplyAddsPerImage) }) { phases in
            sgd.zeroGrad()
            let loss = try phases.time("forward") { try head.loss(model(options.input(images)), labels: labels, scale: 64) }
            try phases.time("backward") { try loss.backward() }
            phases.time("optimizer") { sgd.step() }
            return try loss.item()
        }
    }
}

struct BenchEmbed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Inference: the backbone alone in evaluation mode, without gradients.")

    @OptionGroup var options: BenchOptions

    func run() throws {
        var generator = SeededGenerator(seed: 42)
        let model = try options.model.build(imageSize: options.imageSize)
        let images = options.images(&generator)
        model.eval()
        model.requireGradients(false)
        try options.measure(mode: "embed", flopPerImage: { 2 * Double(model.multiplyAddsPerImage) }) { _ in
            let embeddings = try model(options.input(images))
            return try embeddings.values()[0]
        }
    }
}

struct BenchLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Seconds to load a checkpoint (safetensors, .pth or .onnx) into its backbone, as --checkpoint does.")

    @Option(help: "The checkpoint file.") var checkpoint: String
    @Option(help: "Loads; the median is reported (the first also counts: nothing is cached between loads but the page cache).")
    var rounds = 3

    func run() throws {
        let url = URL(fileURLWithPath: checkpoint)
        var seconds: [Double] = []
        var network = ""
        for _ in 0..<max(rounds, 1) {
            let start = DispatchTime.now().uptimeNanoseconds
            let loaded = try ModelCheckpoint(contentsOf: url)
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            network = loaded.network
        }
        let median = seconds.sorted()[seconds.count / 2]
        print("{\"network\": \"\(network)\", \"median_seconds\": \(String(format: "%.3f", median)), \"seconds\": [\(seconds.map { String(format: "%.3f", $0) }.joined(separator: ", "))]}")
    }
}
