import Foundation

/// How the loader draws and prepares batches.
public struct LoaderOptions: Sendable {
    public var batchSize: Int
    /// The model input size; images of another size are resized (bilinear).
    public var imageWidth: Int
    public var imageHeight: Int
    public var seed: UInt64
    /// Reorder the images every epoch (from `seed` and the epoch number).
    public var shuffle: Bool
    /// Flip each image left-right with probability 1/2 (from `seed`, the epoch and the position).
    public var horizontalFlip: Bool
    /// Decoding threads.
    public var workerCount: Int
    /// Batches decoded ahead of the consumer at most (bounds memory: about this many batch buffers).
    public var prefetchBatches: Int
    /// Replace undecodable images instead of failing: counted and reported per epoch.
    public var skipBadImages: Bool
    /// This process's share of each batch when several ranks train together (torch's DistributedSampler
    /// with drop_last): every rank follows the same epoch order, and rank r takes the positions congruent to
    /// r modulo `worldSize`, so the ranks' batches together are `worldSize x batchSize` consecutive positions
    /// of the order (the images a single process with that batch size would read, in another order).
    public var rank = 0
    public var worldSize = 1

    public init(batchSize: Int, imageWidth: Int = 112, imageHeight: Int = 112, seed: UInt64 = 0,
                shuffle: Bool = true, horizontalFlip: Bool = true, workerCount: Int = 2,
                prefetchBatches: Int = 4, skipBadImages: Bool = false) {
        self.batchSize = batchSize
        self.imageWidth = imageWidth
        self.imageHeight = imageHeight
        self.seed = seed
        self.shuffle = shuffle
        self.horizontalFlip = horizontalFlip
        self.workerCount = workerCount
        self.prefetchBatches = prefetchBatches
        self.skipBadImages = skipBadImages
    }
}

/// Where the loader stands: the next batch it delivers is batch `batchInEpoch` of epoch `epoch`.
/// Stored in checkpoints; a loader created with it continues exactly where the old one stopped.
public struct LoaderState: Codable, Equatable, Sendable {
    public var epoch: Int
    public var batchInEpoch: Int

    public init(epoch: Int = 0, batchInEpoch: Int = 0) {
        self.epoch = epoch
        self.batchInEpoch = batchInEpoch
    }
}

/// One batch, ready for the engine.
public struct Batch: Sendable {
    /// Pixels (x/255 - 0.5)/0.5, laid out [batchSize, 3, height, width] (NCHW, RGB).
    public var images: [Float]
    /// Class labels, one per image.
    public var labels: [Int32]
    /// Source indices of the images (after any substitution of bad images).
    public var indices: [Int]
    public var epoch: Int
    public var batchInEpoch: Int
    public var isLastInEpoch: Bool
    /// Images skipped in this batch (names and reasons); each was replaced by the next good image in the epoch's order.
    public var skipped: [String]
}

/// Reads an image source in batches: a per-epoch permutation from a seeded generator of our own, the
/// last incomplete batch dropped, random horizontal flips, normalisation into NCHW floats. Decoding
/// runs on worker threads that fill a bounded queue of finished batches ahead of the consumer.
public final class Loader {
    public let options: LoaderOptions
    public let batchesPerEpoch: Int

    /// Whole batches in an epoch of `imageCount` images (drop_last: batches are never partial), per rank
    /// of `worldSize` (each batch of every rank full).
    public static func batchesPerEpoch(imageCount: Int, batchSize: Int, worldSize: Int = 1) -> Int {
        imageCount / (batchSize * worldSize)
    }
    /// The position of the next batch `next()` returns.
    public private(set) var state: LoaderState
    /// Bad images skipped in the epoch of the last batch returned (since that epoch began, or since the
    /// resume position when it began before this loader): report it when `isLastInEpoch`.
    public private(set) var skippedInEpoch = 0
    private let pipeline: Pipeline
    private var failure: Error?

    public init(source: any ImageSource, options: LoaderOptions, resumeFrom state: LoaderState = LoaderState()) throws {
        guard options.batchSize > 0, options.imageWidth > 0, options.imageHeight > 0,
              options.workerCount > 0, options.prefetchBatches > 0 else {
            throw DataFormatError(file: "loader", message: "batch size, image size, workers and prefetch must be positive")
        }
        guard options.worldSize > 0, (0..<options.worldSize).contains(options.rank) else {
            throw DataFormatError(file: "loader", message: "rank \(options.rank) is not in a world of \(options.worldSize)")
        }
        let globalBatch = options.batchSize * options.worldSize
        guard source.count >= globalBatch else {
            let ranks = options.worldSize > 1 ? " on each of \(options.worldSize) ranks" : ""
            throw DataFormatError(file: source.count > 0 ? source.describe(0) : "data set",
                                  message: "\(source.count) images cannot fill one batch of \(options.batchSize)\(ranks) (batches are never partial)")
        }
        let batchesPerEpoch = Self.batchesPerEpoch(imageCount: source.count, batchSize: options.batchSize,
                                                   worldSize: options.worldSize)
        guard state.epoch >= 0, (0..<batchesPerEpoch).contains(state.batchInEpoch) else {
            throw DataFormatError(file: "loader state", message: "cannot resume at epoch \(state.epoch) batch \(state.batchInEpoch): "
                                      + "an epoch has \(batchesPerEpoch) batches")
        }
        self.options = options
        self.batchesPerEpoch = batchesPerEpoch
        self.state = state
        pipeline = Pipeline(source: source, options: options, batchesPerEpoch: batchesPerEpoch, start: state)
        pipeline.launch()
    }

    deinit { pipeline.cancel() }

    /// The next batch; epochs follow one another without end (check `isLastInEpoch`).
    /// After an error the loader stays failed and rethrows it.
    public func next() throws -> Batch {
        if let failure { throw failure }
        do {
            let batch = try pipeline.take()
            if batch.batchInEpoch == 0 { skippedInEpoch = 0 }
            skippedInEpoch += batch.skipped.count
            state = batch.isLastInEpoch ? LoaderState(epoch: batch.epoch + 1, batchInEpoch: 0)
                                        : LoaderState(epoch: batch.epoch, batchInEpoch: batch.batchInEpoch + 1)
            return batch
        } catch {
            failure = error
            pipeline.cancel()
            throw error
        }
    }
}

extension Loader {
    /// The per-image work of the loader on one thread: decode `encoded`, resize to the input size if needed,
    /// flip if asked, normalise into `output` (3 planes of imageHeight x imageWidth). Used by benchmarks.
    public static func prepare(_ encoded: Data, source: String, flipped: Bool, codec: JPEGCodec, options: LoaderOptions,
                               into output: inout [Float]) throws {
        let image = try ImageDecoder.decode(encoded, codec: codec, source: source)
            .resized(width: options.imageWidth, height: options.imageHeight)
        output.withUnsafeMutableBufferPointer { ImageNormalizer.write(image, flipped: flipped, into: $0) }
    }
}

/// The shared state of the worker threads: claims of batch numbers, finished batches, permutations.
private final class Pipeline: @unchecked Sendable {
    let source: any ImageSource
    let options: LoaderOptions
    let batchesPerEpoch: Int
    /// Batch number 0 is this position.
    let origin: LoaderState
    let randomness: LoaderRandomness
    /// Guards everything below.
    private let condition = NSCondition()
    /// Batches are numbered from 0 at the resume position.
    private var nextToClaim = 0
    private var nextToTake = 0
    private var finished: [Int: Result<Batch, Error>] = [:]
    private var permutations: [Int: [Int32]] = [:]
    private var cancelled = false

    init(source: any ImageSource, options: LoaderOptions, batchesPerEpoch: Int, start: LoaderState) {
        self.source = source
        self.options = options
        self.batchesPerEpoch = batchesPerEpoch
        self.origin = start
        self.randomness = LoaderRandomness(seed: options.seed)
    }

    func launch() {
        for worker in 0..<options.workerCount {
            let thread = Thread { [self] in work() }
            thread.name = "haarface-loader-\(worker)"
            thread.start()
        }
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    func take() throws -> Batch {
        condition.lock()
        while finished[nextToTake] == nil { condition.wait() }
        let result = finished.removeValue(forKey: nextToTake)!
        nextToTake += 1
        condition.broadcast()
        condition.unlock()
        return try result.get()
    }

    private func work() {
        let codec = JPEGCodec()
        while true {
            condition.lock()
            while !cancelled && nextToClaim >= nextToTake + options.prefetchBatches { condition.wait() }
            if cancelled { condition.unlock(); return }
            let number = nextToClaim
            nextToClaim += 1
            let absolute = origin.batchInEpoch + number
            let epoch = origin.epoch + absolute / batchesPerEpoch
            let order = permutation(epoch)
            condition.unlock()

            let result = Result { try produce(epoch: epoch, batchInEpoch: absolute % batchesPerEpoch, order: order, codec: codec) }
            condition.lock()
            finished[number] = result
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The order of `epoch` (computed once, kept for the two most recent epochs). Called under the lock.
    private func permutation(_ epoch: Int) -> [Int32] {
        if let order = permutations[epoch] { return order }
        let order = options.shuffle ? randomness.permutation(count: source.count, epoch: epoch) : (0..<Int32(source.count)).map { $0 }
        permutations[epoch] = order
        permutations = permutations.filter { $0.key >= epoch - 1 }
        return order
    }

    private func produce(epoch: Int, batchInEpoch: Int, order: [Int32], codec: JPEGCodec) throws -> Batch {
        let batchSize = options.batchSize
        let planeCount = options.imageWidth * options.imageHeight
        // Every element is written below (each slot's 3 planes, or the batch fails), so skip zero-filling.
        var images = [Float](unsafeUninitializedCapacity: batchSize * 3 * planeCount) { _, count in
            count = batchSize * 3 * planeCount
        }
        var labels = [Int32](repeating: 0, count: batchSize)
        var indices = [Int](repeating: 0, count: batchSize)
        var skipped: [String] = []
        for slot in 0..<batchSize {
            let position = (batchInEpoch * batchSize + slot) * options.worldSize + options.rank
            let flip = options.horizontalFlip && randomness.flips(epoch: epoch, position: position)
            var candidate = position
            while true {
                let index = Int(order[candidate])
                do {
                    let label = try checkedLabel(index)
                    let image = try decode(index, codec: codec)
                    images.withUnsafeMutableBufferPointer { buffer in
                        ImageNormalizer.write(image, flipped: flip,
                                              into: UnsafeMutableBufferPointer(rebasing: buffer[(slot * 3 * planeCount)...]))
                    }
                    labels[slot] = Int32(label)
                    indices[slot] = index
                    break
                } catch let error as JPEGError where options.skipBadImages {
                    skipped.append(error.description)
                    // The replacement is the next image in this epoch's order: a pure function of the data.
                    candidate = (candidate + 1) % order.count
                    guard candidate != position else {
                        throw DataFormatError(file: source.describe(index), message: "no image of the data set could be decoded")
                    }
                }
            }
        }
        return Batch(images: images, labels: labels, indices: indices, epoch: epoch, batchInEpoch: batchInEpoch,
                     isLastInEpoch: batchInEpoch == batchesPerEpoch - 1, skipped: skipped)
    }

    private func decode(_ index: Int, codec: JPEGCodec) throws -> RGBImage {
        let bytes = try source.encodedImage(at: index)
        let image = try ImageDecoder.decode(bytes, codec: codec, source: source.describe(index))
        return image.resized(width: options.imageWidth, height: options.imageHeight)
    }

    private func checkedLabel(_ index: Int) throws -> Int {
        let label = try source.label(at: index)
        guard (0..<source.classCount).contains(label) else {
            throw DataFormatError(file: source.describe(index),
                                  message: "label \(label) outside the class range 0..<\(source.classCount)")
        }
        return label
    }
}

/// Pixel conversion: x/255, then (x - 0.5)/0.5, computed in Float32 in that order (as torchvision's
/// ToTensor and Normalize do) and tabulated for the 256 byte values.
enum ImageNormalizer {
    static let table: [Float] = (0..<256).map { (Float($0) / 255 - 0.5) / 0.5 }

    /// Writes `image` as 3 planes (R, G, B) of height x width floats, mirrored left-right if `flipped`.
    static func write(_ image: RGBImage, flipped: Bool, into output: UnsafeMutableBufferPointer<Float>) {
        let width = image.width, height = image.height, plane = width * height
        precondition(output.count >= 3 * plane)
        table.withUnsafeBufferPointer { table in
            image.pixels.withUnsafeBufferPointer { pixels in
                let out = output.baseAddress!
                for y in 0..<height {
                    let row = y * width
                    for x in 0..<width {
                        let source = (row + (flipped ? width - 1 - x : x)) * 3
                        let target = row + x
                        out[target] = table[Int(pixels[source])]
                        out[plane + target] = table[Int(pixels[source + 1])]
                        out[2 * plane + target] = table[Int(pixels[source + 2])]
                    }
                }
            }
        }
    }
}
