import Foundation
import XCTest
@testable import FaceData

final class VerificationBinTests: XCTestCase {
    let script = TestPaths.repository.appendingPathComponent("scripts/reference/data_verification.py").path

    /// The fixture images of scripts/reference/data_verification.py: image i has length
    /// [3, 300, 0, 255, 256, 1000][i] and byte j = (7i + j) mod 256.
    let fixtureImages: [Data] = [3, 300, 0, 255, 256, 1000].enumerated().map { i, length in
        Data((0..<length).map { UInt8((7 * i + $0) % 256) })
    }
    let fixtureFlags = [true, false, true]

    /// Our protocol 2 writer -> Python's pickle (as arcface_torch loads .bin files) -> same values, and
    /// the opcodes Python 2 used; then our reader reads our file back. 2002 images and 1001 flags cover
    /// full APPENDS batches of 1000, a lone APPEND, LONG_BINPUT past memo 255 and BINSTRING past 255 bytes.
    func testWriterReadByPythonPickleAndByOurReader() throws {
        let folder = try TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let images = (0..<2002).map { i in Data((0..<(i % 7 == 0 ? 300 : i % 50)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }) }
        let flags = (0..<1001).map { $0 % 3 == 0 }
        let url = folder.appendingPathComponent("lfw.bin")
        try VerificationBin.write(images: images, sameIdentity: flags, to: url)

        let loaded = try Python.json([script, "load", url.path])
        XCTAssertEqual(loaded["images"] as? [String], images.map(\.hex))
        XCTAssertEqual(loaded["same"] as? [Bool], flags)
        XCTAssertEqual(Set(loaded["opcodes"] as? [String] ?? []),
                       ["PROTO", "EMPTY_LIST", "BINPUT", "LONG_BINPUT", "MARK", "SHORT_BINSTRING", "BINSTRING",
                        "APPENDS", "APPEND", "NEWTRUE", "NEWFALSE", "TUPLE2", "STOP"])

        let set = try VerificationBin.read(url)
        XCTAssertEqual(set.name, "lfw")
        XCTAssertEqual(set.images, images)
        XCTAssertEqual(set.sameIdentity, flags)
        XCTAssertTrue(set.decodedImages.isEmpty)
    }

    /// Files pickled by Python 3 with protocols 2 (bytes as _codecs.encode), 3, 4 and 5 (FRAME, MEMOIZE).
    func testPythonWrittenEncodedImages() throws {
        for protocolVersion in 2...5 {
            let set = try VerificationBin.read(TestPaths.fixtures.appendingPathComponent("bin_bytes_p\(protocolVersion).bin"))
            XCTAssertEqual(set.images, fixtureImages, "protocol \(protocolVersion)")
            XCTAssertEqual(set.sameIdentity, fixtureFlags, "protocol \(protocolVersion)")
        }
    }

    /// NumPy uint8 arrays (2, 3, 3) and a NumPy bool vector, pickled with protocols 2 and 5 by
    /// scripts/reference/data_verification.py: array i, element k (C order) = (13i + k) mod 256.
    func testPythonWrittenNumPyArrays() throws {
        for protocolVersion in [2, 5] {
            let set = try VerificationBin.read(TestPaths.fixtures.appendingPathComponent("bin_arrays_p\(protocolVersion).bin"))
            XCTAssertTrue(set.images.isEmpty)
            XCTAssertEqual(set.decodedImages.count, 6)
            for (i, image) in set.decodedImages.enumerated() {
                XCTAssertEqual(image.height, 2)
                XCTAssertEqual(image.width, 3)
                XCTAssertEqual(image.pixels, (0..<18).map { UInt8((13 * i + $0) % 256) }, "protocol \(protocolVersion) image \(i)")
            }
            XCTAssertEqual(set.sameIdentity, fixtureFlags)
        }
    }

    /// Found by the fuzzer: a list appended to itself through the memo (EMPTY_LIST, BINPUT 0, BINGET 0,
    /// APPEND, STOP) is a cycle; the reader must still free it.
    func testSelfContainingListIsFreed() throws {
        let bytes = Data([0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x2E])
        weak var captured: PickleList?
        let count = try PickleReader.load(bytes, file: "cycle.bin") { value -> Int in
            guard case .list(let list) = value else { return -1 }
            captured = list
            return list.items.count
        }
        XCTAssertEqual(count, 1)
        XCTAssertNil(captured, "the cyclic list was freed")
        XCTAssertThrowsError(try VerificationBin.decode(bytes, name: "x", file: "cycle.bin")) { error in
            XCTAssertTrue("\(error)".contains("found list of 1 items"), "\(error)")
        }
    }

    /// Found by the torchpickle fuzz target: 35,659 TUPLE1s after one value built a chain that Swift freed
    /// recursively, overflowing the stack (Fuzz/regressions/torchpickle/). Nesting past the bound is refused at
    /// the opcode that crosses it, also when the chain is continued from the memo; the bound itself reads.
    func testTuplesNestedPastTheBoundAreRefused() throws {
        let bound = PickleReader.maximumNesting
        // NONE, TUPLE1 x n, STOP.
        func chain(_ depth: Int) -> [UInt8] { [0x4E] + [UInt8](repeating: 0x85, count: depth) }
        let deepest = try PickleReader.load(Data(chain(bound) + [0x2E]), file: "deep.bin") { value -> Int in
            var depth = 0, current = value
            while case .tuple(let items) = current, let first = items.first { depth += 1; current = first }
            return depth
        }
        XCTAssertEqual(deepest, bound)
        XCTAssertThrowsError(try PickleReader.load(Data(chain(bound + 1) + [0x2E]), file: "deep.bin") { _ in 0 }) { error in
            XCTAssertTrue("\(error)".hasPrefix("deep.bin: byte \(bound + 1): tuples nested more than \(bound) deep"), "\(error)")
        }
        // Half the chain, memoised (BINPUT 0) and appended to a list (the stack then holds only the list), fetched
        // back (BINGET 0) and wrapped on: the memo kept its depth, so the TUPLE1 past the bound is refused.
        let half = bound / 2
        let viaMemo = [0x5D] + chain(half) + [0x71, 0x00, 0x61, 0x68, 0x00]
            + [UInt8](repeating: 0x85, count: bound - half + 1) + [0x2E]
        XCTAssertThrowsError(try PickleReader.load(Data(viaMemo), file: "memo.bin") { _ in 0 }) { error in
            XCTAssertTrue("\(error)".contains("tuples nested more than \(bound) deep"), "\(error)")
        }
        // A persistent id (BINPERSID) counts as a level too.
        let persistent = chain(bound) + [0x51, 0x2E]
        XCTAssertThrowsError(try PickleReader.load(Data(persistent), file: "id.bin") { _ in 0 }) { error in
            XCTAssertTrue("\(error)".contains("byte \(bound + 1): tuples nested"), "\(error)")
        }
        // The fuzzer's input itself (35 KB), through the torch reader it was found in.
        let found = try Data(contentsOf: TestPaths.repository
            .appendingPathComponent("Fuzz/regressions/torchpickle/tuple1-chain-of-35659-overflowed-the-stack-when-freed"))
        XCTAssertThrowsError(try TorchStateDict.records(pickle: found, file: "data.pkl")) { error in
            XCTAssertTrue("\(error)".contains("tuples nested more than \(bound) deep"), "\(error)")
        }
    }

    func testUnsupportedOpcodeIsNamedWithItsOffset() throws {
        // PROTO 2, OBJ ('o', builds an instance from a class on the stack) at byte 2.
        XCTAssertThrowsError(try VerificationBin.decode(Data([0x80, 0x02, 0x6F, 0x2E]), name: "x", file: "x.bin")) { error in
            XCTAssertEqual("\(error)", "x.bin: byte 2: unsupported pickle opcode 0x6F ('o') (a verification .bin holds only "
                           + "lists of bytes or NumPy arrays and booleans)")
        }
        // A global outside NumPy: os.system must never be resolved.
        let evil = Data([0x80, 0x02, 0x63] + Array("os\nsystem\n".utf8) + [0x2E])
        XCTAssertThrowsError(try VerificationBin.decode(evil, name: "x", file: "x.bin")) { error in
            XCTAssertTrue("\(error)".contains("byte 2: refusing global os.system"), "\(error)")
        }
        // Truncated: SHORT_BINSTRING announcing 10 bytes, 2 present.
        XCTAssertThrowsError(try VerificationBin.decode(Data([0x80, 0x02, 0x55, 10, 1, 2]), name: "x", file: "x.bin")) { error in
            XCTAssertTrue("\(error)".contains("byte 2: file truncated"), "\(error)")
        }
        // Odd image count for the flags.
        var writer = PickleWriter()
        writer.list([Data([1])]) { $0.string($1) }
        writer.list([true]) { $0.bool($1) }
        writer.tuple2()
        writer.stop()
        XCTAssertThrowsError(try VerificationBin.decode(Data(writer.bytes), name: "x", file: "x.bin")) { error in
            XCTAssertTrue("\(error)".contains("1 images for 1 pairs"), "\(error)")
        }
    }
}
