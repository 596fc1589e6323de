import Foundation
import TensorFixtures
import XCTest
@testable import NN

/// Fixtures: Tests/NNTests/Fixtures/safetensors_python.safetensors, written by
/// scripts/reference/safetensors_torch.py (torch 1.13, numpy 1.24, /usr/bin/python3).
final class SafeTensorsTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    // The inputs of safetensors_torch.py's golden file (GOLDEN_F32, GOLDEN_BF16, GOLDEN_I64_*).
    let goldenF32: [Float] = [0.0, -1.5, 3.25, 1e-30, -Float(sign: .plus, exponent: -130, significand: 1), 65504.0]
    let goldenBF16Inputs: [Float] = [1.0, -2.0, 3.140625, 0.1, 1e10, -3.3e-5]
    let goldenI64: [Int64] = [-1, 0, 1 << 40, -(1 << 62)]

    func testReadsTheFileThatPythonWrote() throws {
        let file = try SafeTensors.read(contentsOf: Self.fixtures.appendingPathComponent("safetensors_python.safetensors"))
        XCTAssertEqual(file.metadata, ["format": "pt", "producer": "safetensors_torch.py"])
        XCTAssertEqual(Set(file.tensors.keys), ["f32.matrix", "bf16.vector", "i64.vector", "i64.scalar", "empty"])

        let matrix = try XCTUnwrap(file["f32.matrix"])
        XCTAssertEqual(matrix.dtype, .float32)
        XCTAssertEqual(matrix.shape, [2, 3])
        // F32 is stored exactly: bit-for-bit equal to the same literals in Swift (incl. the subnormal).
        XCTAssertEqual(matrix.floats().map(\.bitPattern), goldenF32.map(\.bitPattern))

        let vector = try XCTUnwrap(file["bf16.vector"])
        XCTAssertEqual(vector.dtype, .bfloat16)
        XCTAssertEqual(vector.shape, [6])
        // torch's .bfloat16() of the inputs, printed by `safetensors_torch.py dump`.
        XCTAssertEqual(vector.floats(), [1.0, -2.0, 3.140625, 0.10009765625, 9999220736.0, -3.2901763916015625e-05])

        XCTAssertEqual(file["i64.vector"]?.int64s(), goldenI64)
        XCTAssertEqual(file["i64.scalar"]?.shape, [])
        XCTAssertEqual(file["i64.scalar"]?.int64s(), [1234567890123])
        XCTAssertEqual(file["empty"]?.shape, [0, 4])
        XCTAssertEqual(file["empty"]?.bytes, [])
    }

    func testBFloat16RoundingMatchesTorchBitForBit() throws {
        let file = try SafeTensors.read(contentsOf: Self.fixtures.appendingPathComponent("safetensors_python.safetensors"))
        XCTAssertEqual(SafeTensor(bfloat16: goldenBF16Inputs, shape: [6]).bytes, file["bf16.vector"]?.bytes)
        // Ties go to even: 1 + 2^-8 lies halfway between bf16 1.0 and 1 + 2^-7 and rounds to 1.0;
        // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6 and rounds to the even 1 + 2^-6.
        XCTAssertEqual(SafeTensor(bfloat16: [1 + 1.0 / 256, 1 + 3.0 / 256], shape: [2]).floats(), [1.0, 1 + 1.0 / 64])
    }

    func testWritesTheExactBytesOfTheFormat() {
        var file = SafeTensors(metadata: ["k": "v"])
        file["a"] = SafeTensor(float32: [1.0], shape: [1])
        // Header JSON is 79 bytes, padded with one space to 80 = 0x50; 1.0f is 0x3F800000 little-endian.
        let json = #"{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} "#
        let expected: [UInt8] = [0x50, 0, 0, 0, 0, 0, 0, 0] + Array(json.utf8) + [0x00, 0x00, 0x80, 0x3F]
        XCTAssertEqual(file.encoded(), expected)
    }

    func testRoundTripsThroughSwift() throws {
        var file = SafeTensors(metadata: ["step": "12", "quote\"and\nnewline": "ü"])
        file["layer1.0.conv1.weight"] = SafeTensor(float32: (0..<24).map { Float($0) * 0.37 - 4 }, shape: [2, 3, 2, 2])
        file["bn.num_batches_tracked"] = SafeTensor(int64: [7], shape: [])
        file["half"] = SafeTensor(bfloat16: [0.5, -0.25, 1e-3], shape: [3])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("roundtrip-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try file.write(to: url)
        XCTAssertEqual(try SafeTensors.read(contentsOf: url), file)
    }

    func testRefusesDamagedFilesNamingFileAndTensor() throws {
        var file = SafeTensors()
        file["w"] = SafeTensor(float32: [1, 2, 3], shape: [3])
        file["x"] = SafeTensor(float32: [4], shape: [1])
        let good = file.encoded()
        XCTAssertNoThrow(try SafeTensors.decode(good, file: "m.safetensors"))

        func problem(_ bytes: [UInt8]) -> SafeTensorsError? {
            do { _ = try SafeTensors.decode(bytes, file: "m.safetensors"); return nil } catch { return error as? SafeTensorsError }
        }
        func header(_ json: String, body: [UInt8]) -> [UInt8] {
            let text = Array(json.utf8)
            return (0..<8).map { UInt8(truncatingIfNeeded: UInt64(text.count) >> (8 * UInt64($0))) } + text + body
        }

        let truncated = try XCTUnwrap(problem(Array(good.dropLast(2))))
        XCTAssertEqual(truncated.file, "m.safetensors")
        XCTAssertEqual(truncated.tensor, "x")
        XCTAssertTrue(truncated.description.contains("truncated"), truncated.description)

        XCTAssertNotNil(problem([1, 2, 3]))
        XCTAssertTrue(problem([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0] + good)!.description.contains("header length"))
        XCTAssertTrue(problem(header("{\"w\":", body: []))!.description.contains("not valid JSON"))
        XCTAssertTrue(problem(header("[1]", body: []))!.description.contains("'{'"))

        let dtype = try XCTUnwrap(problem(header(#"{"w":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}"#, body: [0, 0])))
        XCTAssertEqual(dtype.tensor, "w")
        XCTAssertTrue(dtype.description.contains("F16"), dtype.description)

        let size = try XCTUnwrap(problem(header(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, body: [0, 0, 0, 0])))
        XCTAssertEqual(size.tensor, "w")
        XCTAssertTrue(size.description.contains("needs 8"), size.description)

        // Dimensions whose product overflows 64 bits (2^40 x 2^40): a mismatch, not a trap.
        let overflow = try XCTUnwrap(problem(header(#"{"w":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}}"#, body: [0, 0, 0, 0])))
        XCTAssertTrue(overflow.description.contains("needs more than 2^63"), overflow.description)

        let gap = try XCTUnwrap(problem(header(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, body: [UInt8](repeating: 0, count: 8))))
        XCTAssertEqual(gap.tensor, "w")
        XCTAssertTrue(gap.description.contains("gap"), gap.description)

        let shape = try XCTUnwrap(problem(header(#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, body: [0, 0, 0, 0])))
        XCTAssertTrue(shape.description.contains("shape"), shape.description)

        let metadata = try XCTUnwrap(problem(header(#"{"__metadata__":{"a":1}}"#, body: [])))
        XCTAssertTrue(metadata.description.contains("__metadata__"), metadata.description)

        XCTAssertThrowsError(try SafeTensors.read(contentsOf: URL(fileURLWithPath: "/nope/none.safetensors"))) {
            XCTAssertEqual(($0 as? SafeTensorsError)?.file, "/nope/none.safetensors")
        }
    }

    /// Swift writes, PyTorch (through scripts/reference/safetensors_torch.py) loads: needs /usr/bin/python3 with torch.
    func testPyTorchLoadsTheFileSwiftWrote() throws {
        let python = try requirePyTorch("PyTorch loads Swift-written safetensors")
        var file = SafeTensors(metadata: ["producer": "HaarFace"])
        file["conv.weight"] = SafeTensor(float32: [0.5, -1.25, 3e-8, 1e20], shape: [2, 2])
        file["bn.num_batches_tracked"] = SafeTensor(int64: [42], shape: [])
        file["half.values"] = SafeTensor(bfloat16: [0.1, -7.5], shape: [2, 1])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("swift-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try file.write(to: url)

        let script = Self.repositoryRoot.appendingPathComponent("scripts/reference/safetensors_torch.py").path
        let result = try runProcess(python, [script, "dump", url.path])
        XCTAssertEqual(result.status, 0, result.output)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        XCTAssertEqual(json["__metadata__"] as? [String: String], ["producer": "HaarFace"])
        let conv = try XCTUnwrap(json["conv.weight"] as? [String: Any])
        XCTAssertEqual(conv["dtype"] as? String, "float32")
        XCTAssertEqual(conv["shape"] as? [Int], [2, 2])
        XCTAssertEqual((conv["values"] as? [Double])?.map { Float($0) }, [0.5, -1.25, 3e-8, 1e20])
        let count = try XCTUnwrap(json["bn.num_batches_tracked"] as? [String: Any])
        XCTAssertEqual(count["dtype"] as? String, "int64")
        XCTAssertEqual(count["values"] as? [Int], [42])
        let half = try XCTUnwrap(json["half.values"] as? [String: Any])
        XCTAssertEqual(half["dtype"] as? String, "bfloat16")
        XCTAssertEqual(half["shape"] as? [Int], [2, 1])
        // bf16(0.1) = 0.10009765625 (as torch rounds it); -7.5 is exact in bf16.
        XCTAssertEqual(half["values"] as? [Double], [0.10009765625, -7.5])
    }
}
