import ArgumentParser
import FaceData
import Foundation

/// `haarface bench-data`: the loader's throughput (decode + resize if needed + flip + normalise) on a data set.
struct BenchDataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-data",
        abstract: "Measure the data loader: images/s for decode, flip and normalise into NCHW batches; prints JSON.")

    @Option(help: "A training set: a .rec/.idx file, a folder with train.rec + train.idx, or an image folder.")
    var images: String

    @Option(help: "Decoding threads.")
    var workers = 1

    @Option(help: "Images per batch.")
    var batchSize = 128

    @Option(help: "Timed epochs (after one untimed warm-up epoch).")
    var epochs = 2

    @Option(help: "Batches per epoch, warm-up and timed (default: the whole epoch; a large set's epoch takes long).")
    var batches: Int?

    @Option(help: "Model input size in pixels (square).")
    var size = 112

    @Flag(help: "Decode, flip and normalise on the calling thread alone (no loader threads): the per-core rate.")
    var singleThread = false

    func run() throws {
        let location = try DataSetLocation.locate(URL(fileURLWithPath: images))
        let source = try location.trainingSource()
        let options = LoaderOptions(batchSize: batchSize, imageWidth: size, imageHeight: size, seed: 1,
                                    workerCount: workers, prefetchBatches: max(4, 2 * workers))
        if singleThread { return try runSingleThread(source, kind: location.kind, options: options) }
        let loader = try Loader(source: source, options: options)
        if let batches, batches < 1 { throw ValidationError("--batches must be at least 1, found \(batches)") }
        let batchesPerEpoch = min(batches ?? loader.batchesPerEpoch, loader.batchesPerEpoch)
        // Warm-up: one untimed epoch (threads start, files enter the page cache).
        for _ in 0..<batchesPerEpoch { _ = try loader.next() }
        // Channel means over the timed epochs: independent of order and flips, so they can be checked against
        // another loader's over the same images (every image once per epoch when the batch size divides the count).
        var channelSums = [Double](repeating: 0, count: 3)
        let plane = size * size
        let timedImages = epochs * batchesPerEpoch * batchSize
        let start = Date()
        let cpuStart = cpuSeconds(CLOCK_PROCESS_CPUTIME_ID)
        for _ in 0..<(epochs * batchesPerEpoch) {
            let batch = try loader.next()
            batch.images.withUnsafeBufferPointer { pixels in
                for slot in 0..<batchSize {
                    for channel in 0..<3 {
                        let offset = (slot * 3 + channel) * plane
                        var sum: Float = 0
                        for i in offset..<(offset + plane) { sum += pixels[i] }
                        channelSums[channel] += Double(sum)
                    }
                }
            }
        }
        let seconds = Date().timeIntervalSince(start)
        let cpu = cpuSeconds(CLOCK_PROCESS_CPUTIME_ID) - cpuStart
        let result: [String: Any] = [
            "kind": location.kind, "images": timedImages, "seconds": seconds, "images_per_second": Double(timedImages) / seconds,
            "cpu_seconds": cpu, "images_per_cpu_second": Double(timedImages) / cpu,
            "workers": workers, "batch_size": batchSize, "skipped": loader.skippedInEpoch,
            "channel_means": channelSums.map { $0 / Double(timedImages * plane) },
        ]
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }

    /// Times the loader's per-image work (`Loader.prepare`) on this thread: `epochs` passes over the set.
    private func runSingleThread(_ source: any ImageSource, kind: String, options: LoaderOptions) throws {
        let codec = JPEGCodec()
        let plane = size * size
        var buffer = [Float](repeating: 0, count: 3 * plane)
        let encoded = try (0..<source.count).map { try source.encodedImage(at: $0) }  // file reads are not timed
        for index in 0..<source.count { try Loader.prepare(encoded[index], source: "", flipped: index % 2 == 0, codec: codec,
                                                            options: options, into: &buffer) }
        let start = Date()
        let cpuStart = cpuSeconds(CLOCK_THREAD_CPUTIME_ID)
        for pass in 0..<epochs {
            for index in 0..<source.count {
                try Loader.prepare(encoded[index], source: "", flipped: (index + pass) % 2 == 0, codec: codec,
                                   options: options, into: &buffer)
            }
        }
        let seconds = Date().timeIntervalSince(start)
        let cpu = cpuSeconds(CLOCK_THREAD_CPUTIME_ID) - cpuStart
        let count = epochs * source.count
        let result: [String: Any] = ["kind": kind, "images": count, "seconds": seconds, "images_per_second": Double(count) / seconds,
                                     "cpu_seconds": cpu, "images_per_cpu_second": Double(count) / cpu]
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }
}

/// CPU time of `clock` (the process's or this thread's) in seconds.
func cpuSeconds(_ clock: clockid_t) -> Double {
    var time = timespec()
    clock_gettime(clock, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
