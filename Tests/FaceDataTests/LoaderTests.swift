import Foundation
import XCTest
@testable import FaceData

/// An in-memory source for loader tests; counts reads so that prefetching can be observed.
final class MemorySource: ImageSource, @unchecked Sendable {
    let images: [Data]
    let labels: [Int]
    let classCount: Int
    private let lock = NSLock()
    private var readCount = 0

    init(images: [Data], labels: [Int], classCount: Int) {
        self.images = images
        self.labels = labels
        self.classCount = classCount
    }

    var count: Int { images.count }
    var reads: Int { lock.lock(); defer { lock.unlock() }; return readCount }
    func label(at index: Int) throws -> Int { labels[index] }
    func encodedImage(at index: Int) throws -> Data {
        lock.lock(); readCount += 1; lock.unlock()
        return images[index]
    }
    func describe(_ index: Int) -> String { "memory image \(index)" }
}

final class LoaderTests: XCTestCase {
    /// 10 images of 8x8 with distinct colours and a left-right gradient (so flips show), labels i mod 3.
    func makeSource(count: Int = 10, width: Int = 8, height: Int = 8) throws -> MemorySource {
        let codec = JPEGCodec()
        let images = try (0..<count).map { i -> Data in
            var pixels = [UInt8](repeating: 0, count: width * height * 3)
            for y in 0..<height { for x in 0..<width {
                let p = (y * width + x) * 3
                pixels[p] = UInt8(20 * i % 256); pixels[p + 1] = UInt8(x * 255 / (width - 1)); pixels[p + 2] = UInt8(y * 20)
            } }
            return try codec.encode(RGBImage(width: width, height: height, pixels: pixels), quality: 100)
        }
        return MemorySource(images: images, labels: (0..<count).map { $0 % 3 }, classCount: 3)
    }

    /// Seed 42 over 10 images, batches of 3: the orders are the fixture's permutations (scripts/reference/data_random.py,
    /// permutation_seed_42_count_10), cut into 3 batches, the 10th image dropped; flips are the fixture's
    /// flips_seed_42_epoch_0 by position; pixels are (x/255 - 0.5)/0.5 of the decoded image, computed here the same way.
    func testOrderFlipsAndNormalisationFollowTheReference() throws {
        let source = try makeSource()
        let loader = try Loader(source: source, options: LoaderOptions(batchSize: 3, imageWidth: 8, imageHeight: 8, seed: 42))
        XCTAssertEqual(loader.batchesPerEpoch, 3)
        let expectedOrders = [[6, 7, 8, 3, 9, 4, 5, 2, 1], [3, 8, 0, 1, 2, 6, 9, 4, 5]]
        let flips = [true, false, false, false, false, false, true, false, true]
        let codec = JPEGCodec()
        for epoch in 0..<2 {
            for batchIndex in 0..<3 {
                let batch = try loader.next()
                XCTAssertEqual(batch.epoch, epoch)
                XCTAssertEqual(batch.batchInEpoch, batchIndex)
                XCTAssertEqual(batch.isLastInEpoch, batchIndex == 2)
                let expected = Array(expectedOrders[epoch][(3 * batchIndex)..<(3 * batchIndex + 3)])
                XCTAssertEqual(batch.indices, expected)
                XCTAssertEqual(batch.labels, expected.map { Int32($0 % 3) })
                XCTAssertEqual(batch.images.count, 3 * 3 * 8 * 8)
                guard epoch == 0 else { continue }
                for slot in 0..<3 {
                    let image = try codec.decode(source.images[expected[slot]], source: "")
                    let flipped = flips[3 * batchIndex + slot]
                    for channel in 0..<3 { for y in 0..<8 { for x in 0..<8 {
                        let pixel = image.pixels[(y * 8 + (flipped ? 7 - x : x)) * 3 + channel]
                        let value = batch.images[((slot * 3 + channel) * 8 + y) * 8 + x]
                        XCTAssertEqual(value, (Float(pixel) / 255 - 0.5) / 0.5, "slot \(slot) c\(channel) y\(y) x\(x)")
                    } } }
                }
            }
        }
        XCTAssertEqual(loader.state, LoaderState(epoch: 2, batchInEpoch: 0))
        XCTAssertEqual(ImageNormalizer.table[0], -1)
        XCTAssertEqual(ImageNormalizer.table[255], 1)
    }

    /// Stopping after any batch and resuming from the saved (JSON round-tripped) state gives the same batches,
    /// across an epoch boundary, whatever the number of workers.
    func testResumeIsExact() throws {
        let source = try makeSource(count: 11)
        let options = LoaderOptions(batchSize: 4, imageWidth: 8, imageHeight: 8, seed: 7, workerCount: 1)
        let reference = try Loader(source: source, options: options)
        let batches = try (0..<7).map { _ in try reference.next() }
        for stop in [1, 2, 4] {
            let first = try Loader(source: source, options: options)
            for _ in 0..<stop { _ = try first.next() }
            let saved = try JSONEncoder().encode(first.state)
            var resumedOptions = options
            resumedOptions.workerCount = 3
            let resumed = try Loader(source: source, options: resumedOptions,
                                     resumeFrom: try JSONDecoder().decode(LoaderState.self, from: saved))
            for expected in batches[stop...] {
                let batch = try resumed.next()
                XCTAssertEqual(batch.indices, expected.indices, "resumed after \(stop)")
                XCTAssertEqual(batch.images, expected.images, "resumed after \(stop)")
                XCTAssertEqual(batch.epoch, expected.epoch)
            }
        }
        XCTAssertThrowsError(try Loader(source: source, options: options, resumeFrom: LoaderState(epoch: 0, batchInEpoch: 2))) { error in
            XCTAssertTrue("\(error)".contains("an epoch has 2 batches"), "\(error)")
        }
    }

    /// Across ranks (DistributedSampler with drop_last): rank r of 2 takes the epoch order's positions r, r + 2,
    /// ...; the ranks' batches together are the single-process batch of twice the size, image for image (each
    /// image with the same flip), and every epoch drops the same tail.
    func testRanksShareEachBatchOfTheEpochOrder() throws {
        let source = try makeSource(count: 11)
        var single = LoaderOptions(batchSize: 4, imageWidth: 8, imageHeight: 8, seed: 7, workerCount: 1)
        let whole = try Loader(source: source, options: single)
        single.batchSize = 2
        let ranks = try (0..<2).map { rank -> Loader in
            var options = single
            options.rank = rank
            options.worldSize = 2
            return try Loader(source: source, options: options)
        }
        XCTAssertEqual(ranks[0].batchesPerEpoch, 2, "11 images: 2 global batches of 4, 3 dropped")
        let imageFloats = 3 * 8 * 8
        for _ in 0..<6 {
            let expected = try whole.next()
            let parts = try ranks.map { try $0.next() }
            XCTAssertEqual(parts.map(\.epoch), [expected.epoch, expected.epoch])
            for slot in 0..<4 {
                let part = parts[slot % 2], within = slot / 2
                XCTAssertEqual(part.indices[within], expected.indices[slot], "rank \(slot % 2) position \(within)")
                XCTAssertEqual(Array(part.images[(within * imageFloats)..<((within + 1) * imageFloats)]),
                               Array(expected.images[(slot * imageFloats)..<((slot + 1) * imageFloats)]), "the same flip")
            }
        }
        var bad = single
        bad.worldSize = 2
        bad.rank = 2
        XCTAssertThrowsError(try Loader(source: source, options: bad)) { XCTAssertTrue("\($0)".contains("rank 2 is not in a world of 2")) }
        bad.rank = 1
        bad.batchSize = 6
        XCTAssertThrowsError(try Loader(source: source, options: bad)) {
            XCTAssertTrue("\($0)".contains("11 images cannot fill one batch of 6 on each of 2 ranks"), "\($0)")
        }
    }

    /// Images of another size are resized (bilinear) to the model input.
    func testImagesAreResizedToTheInputSize() throws {
        let source = try makeSource(count: 2, width: 16, height: 12)
        let loader = try Loader(source: source, options: LoaderOptions(batchSize: 2, imageWidth: 8, imageHeight: 8,
                                                                       shuffle: false, horizontalFlip: false))
        let batch = try loader.next()
        let resized = try JPEGCodec().decode(source.images[1], source: "").resized(width: 8, height: 8)
        let plane = Array(batch.images[(3 * 64)..<(4 * 64)])  // image 1, red channel
        XCTAssertEqual(plane, (0..<64).map { ImageNormalizer.table[Int(resized.pixels[3 * $0])] })
    }

    /// The workers stay at most `prefetchBatches` batches ahead of the consumer.
    func testPrefetchIsBounded() throws {
        let source = try makeSource(count: 100)
        let loader = try Loader(source: source, options: LoaderOptions(batchSize: 2, imageWidth: 8, imageHeight: 8,
                                                                       workerCount: 2, prefetchBatches: 2))
        _ = try loader.next()
        Thread.sleep(forTimeInterval: 0.3)
        // Taken: batch 0; claimable: batches 1 and 2 (numbers below taken + prefetch) -> at most 3 batches of 2 reads.
        XCTAssertEqual(source.reads, 6)
    }

    func testCorruptImagesFailByDefaultAndAreCountedWhenSkipped() throws {
        let good = try makeSource(count: 6)
        var images = good.images
        images[2] = images[2].prefix(images[2].count - 20)  // cut inside the scan
        images[4] = Data("not an image".utf8)
        let source = MemorySource(images: images, labels: good.labels, classCount: 3)
        let options = LoaderOptions(batchSize: 3, imageWidth: 8, imageHeight: 8, shuffle: false)
        let strict = try Loader(source: source, options: options)
        XCTAssertThrowsError(try strict.next()) { error in
            XCTAssertTrue("\(error)".hasPrefix("memory image 2: corrupt JPEG"), "\(error)")
        }
        XCTAssertThrowsError(try strict.next(), "a failed loader stays failed")

        var skipping = options
        skipping.skipBadImages = true
        let loader = try Loader(source: source, options: skipping)
        let first = try loader.next(), second = try loader.next()
        // Bad image 2 is replaced by the next image in the order (3); bad 4 by 5.
        XCTAssertEqual(first.indices, [0, 1, 3], "\(first.skipped)")
        XCTAssertEqual(second.indices, [3, 5, 5])
        XCTAssertEqual(first.skipped.count, 1)
        XCTAssertEqual(second.skipped, ["memory image 4: not a JPEG (Not a JPEG file: starts with 0x6e 0x6f)"])
        XCTAssertEqual(loader.skippedInEpoch, 2)
        _ = try loader.next()
        XCTAssertEqual(loader.skippedInEpoch, 1, "the count restarts with each epoch")
    }

    /// End to end: an image folder packed into train.rec, loaded from the .rec, gives the same batches as the folder.
    func testPackedRecordLoadsLikeTheFolder() throws {
        let root = try TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let memory = try makeSource(count: 9)
        for index in 0..<9 {
            let folder = root.appendingPathComponent("faces/person\(index % 3)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try memory.images[index].write(to: folder.appendingPathComponent("\(index).jpg"))
        }
        try DataSetPacker.pack(folder: root.appendingPathComponent("faces"), output: root.appendingPathComponent("rec"))
        let folder = try ImageFolderSource(root: root.appendingPathComponent("faces"))
        let record = try RecordIOSource(recordURL: root.appendingPathComponent("rec/train.rec"))
        let options = LoaderOptions(batchSize: 4, imageWidth: 8, imageHeight: 8, seed: 3, workerCount: 2)
        let fromFolder = try Loader(source: folder, options: options), fromRecord = try Loader(source: record, options: options)
        for _ in 0..<4 {
            let a = try fromFolder.next(), b = try fromRecord.next()
            XCTAssertEqual(a.images, b.images)
            XCTAssertEqual(a.labels, b.labels)
        }
    }

    func testBadLabelsAndSmallSetsAreClearErrors() throws {
        let good = try makeSource(count: 4)
        let source = MemorySource(images: good.images, labels: [0, 1, 5, 2], classCount: 3)
        let loader = try Loader(source: source, options: LoaderOptions(batchSize: 4, imageWidth: 8, imageHeight: 8))
        XCTAssertThrowsError(try loader.next()) { error in
            XCTAssertEqual("\(error)", "memory image 2: label 5 outside the class range 0..<3")
        }
        XCTAssertThrowsError(try Loader(source: source, options: LoaderOptions(batchSize: 5))) { error in
            XCTAssertTrue("\(error)".contains("4 images cannot fill one batch of 5"), "\(error)")
        }
    }
}
