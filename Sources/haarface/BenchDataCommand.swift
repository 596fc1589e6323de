import ArgumentParser
import FaceData
import Foundation

/// `haarface bench-data`: the loader's throughput (decode + resize if needed + flip + normalise) on a data set.
struct BenchDataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-data",
        abstract: "Measure the data loader: images/s for decode, flip and normalise into NCHW batches; prints JSON.")

    @Option(help: "An image folder or a .rec file.")
    var images: String

    @Option(help: "Decoding threads.")
    var workers = 1

    @Option(help: "Images per batch.")
    var batchSize = 128

    @Option(help: "Timed epochs (after one untimed warm-up epoch).")
    var epochs = 2

    @Option(help: "Model input size in pixels (square).")
    var size = 112

    func run() throws {
        let url = URL(fileURLWithPath: images)
        let source: any ImageSource = url.pathExtension == "rec" ? try RecordIOSource(recordURL: url) : try ImageFolderSource(root: url)
        let options = LoaderOptions(batchSize: batchSize, imageWidth: size, imageHeight: size, seed: 1,
                                    workerCount: workers, prefetchBatches: max(4, 2 * workers))
        let loader = try Loader(source: source, options: options)
        // Warm-up: one untimed epoch (threads start, files enter the page cache).
        for _ in 0..<loader.batchesPerEpoch { _ = try loader.next() }
        // Channel means over the timed epochs: independent of order and flips, so they can be checked against
        // another loader's over the same images (every image once per epoch when the batch size divides the count).
        var channelSums = [Double](repeating: 0, count: 3)
        let plane = size * size
        let timedImages = epochs * loader.batchesPerEpoch * batchSize
        let start = Date()
        for _ in 0..<(epochs * loader.batchesPerEpoch) {
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
        let result: [String: Any] = [
            "images": timedImages, "seconds": seconds, "images_per_second": Double(timedImages) / seconds,
            "workers": workers, "batch_size": batchSize, "skipped": loader.skippedInEpoch,
            "channel_means": channelSums.map { $0 / Double(timedImages * plane) },
        ]
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }
}
