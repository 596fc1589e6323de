// swift-tools-version:6.0
// HaarFace: face-recognition training with the MHLR learning-rate scheduler.
// Targets are layered; dependencies point only downward (see shared STYLE.md):
//   CDNNL, CTurboJPEG, CZlibCRC, CMPI (system libraries)
//   MHLR (schedulers, log replay)   Plots (SVG charts)
//   Randomness (the seeded generator and its draws)   Collective (collectives; Open MPI in CollectiveMPI)
//   Engine (tensors, oneDNN, autograd) -> NN (modules, backbones, SGD, safetensors)
//   FaceData (JPEG, RecordIO, .bin, folders, synthetic identities, loader)
//   FaceEval (verification 10-fold, ROC, IJB templates, face alignment)
//   ONNX (backbones to and from ONNX graphs)   TensorBoard (event files)
//   haarface (command-line tool)
import PackageDescription

// The numeric targets run tight loops (SGD, gradient norms, pixel conversion, rendering) that an unoptimised
// debug build makes 10-50x slower; they are optimised in every configuration so that `make test` trains its
// tiny models in seconds. Debug information and testability stay on.
let optimisedAlways: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "HaarFace",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "MHLR", targets: ["MHLR"]),
        .executable(name: "haarface", targets: ["haarface"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // torch.save files are zip archives (needs zlib, Debian's zlib1g-dev).
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        // ONNX models and TensorBoard event files are protobuf; the Swift for their .proto files is generated
        // once and committed (scripts/interop/generate_protos.sh), so builds need no protoc.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG"),
        .systemLibrary(name: "CZlibCRC", path: "Sources/CZlibCRC"),
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),

        .target(name: "MHLR"),
        .target(name: "Randomness"),
        // Collectives behind one protocol (one process, threads for tests); Open MPI's ranks in CollectiveMPI.
        .target(name: "Collective"),
        .target(name: "CollectiveMPI", dependencies: ["Collective", "CMPI"]),
        .target(name: "Plots"),
        .target(name: "Engine", dependencies: ["CDNNL", "Randomness"], exclude: ["README.md"], swiftSettings: optimisedAlways),
        .target(name: "NN", dependencies: ["Engine", "Randomness", "Collective"], exclude: ["README.md"], swiftSettings: optimisedAlways),
        .target(name: "FaceData", dependencies: ["CTurboJPEG", "Randomness"], swiftSettings: optimisedAlways),
        .target(name: "FaceEval", dependencies: ["FaceData", "Plots"], swiftSettings: optimisedAlways),
        .target(name: "ONNX", dependencies: ["Engine", "NN", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                swiftSettings: optimisedAlways),
        .target(name: "TensorBoard", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["event.proto"]),
        // Test support (fixture files and tolerance checks), used by the test targets only.
        .target(name: "TensorFixtures", dependencies: ["Engine"]),
        .target(name: "Training", dependencies: [
            "MHLR", "Plots", "Engine", "NN", "FaceData", "FaceEval", "ONNX", "TensorBoard", "CZlibCRC", "Collective",
            .product(name: "Yams", package: "Yams"), .product(name: "ZIPFoundation", package: "ZIPFoundation"),
        ], swiftSettings: optimisedAlways),

        // Every reader of untrusted bytes driven as the commands drive it: for the fuzzer (Fuzz/) and its regressions.
        .target(name: "FuzzTargets", dependencies: ["FaceData", "FaceEval", "MHLR", "NN", "Training"]),

        // Engine kernel micro-benchmark (not part of the tests): swift run -c release engine-bench
        .executableTarget(name: "engine-bench", dependencies: ["Engine"], path: "Sources/EngineBench"),
        .executableTarget(
            name: "haarface",
            dependencies: [
                "MHLR", "Plots", "Engine", "NN", "FaceData", "FaceEval", "Training", "Collective", "CollectiveMPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // The computations that span ranks against one process, under mpirun (HaarFaceCLITests starts it).
        .executableTarget(name: "collective-check", dependencies: ["Collective", "CollectiveMPI", "Engine", "NN", "Randomness"],
                          path: "Sources/CollectiveCheck"),
        .executableTarget(name: "MHLRBenchmark", dependencies: ["MHLR"]),
        .executableTarget(name: "FaceEvalBenchmark", dependencies: ["FaceEval"]),
        .executableTarget(name: "FaceDataBenchmark", dependencies: ["FaceData"]),

        .testTarget(name: "MHLRTests", dependencies: ["MHLR"], exclude: ["Fixtures"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Randomness", "TensorFixtures"], exclude: ["Fixtures"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Randomness", "TensorFixtures", "Collective"], exclude: ["Fixtures"]),
        .testTarget(name: "TensorBoardTests", dependencies: ["TensorBoard", "TensorFixtures"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "MHLR", "NN", "Engine", "FaceData", "TensorFixtures", "Collective"]),
        .testTarget(name: "FaceDataTests", dependencies: ["FaceData", "Randomness"], exclude: ["Fixtures"]),
        .testTarget(name: "FaceEvalTests", dependencies: ["FaceEval", "FaceData"], exclude: ["Fixtures"]),
        .testTarget(name: "ONNXTests", dependencies: ["ONNX", "NN", "Engine", "Randomness", "TensorFixtures"]),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["FuzzTargets"]),
        .testTarget(name: "HaarFaceCLITests", dependencies: ["haarface", "MHLR", "FaceData", "NN"]),
    ],
    swiftLanguageModes: [.v5]
)

// The libFuzzer driver of every reader of untrusted bytes (Fuzz/run.sh, `make fuzz`): only with HAARFACE_FUZZ
// set, which also instruments the project's own modules for libFuzzer's coverage and AddressSanitizer (the
// dependencies are built as usual). Gold fails on the sanitizers' objects: lld links.
if Context.environment["HAARFACE_FUZZ"] != nil {
    let sanitizers = "-sanitize=fuzzer,address"
    for target in package.targets where target.type == .regular {
        target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags([sanitizers])]
    }
    package.targets.append(.executableTarget(
        name: "haarface-fuzz", dependencies: ["FuzzTargets"], path: "Fuzz/Targets",
        swiftSettings: [.unsafeFlags([sanitizers])], linkerSettings: [.unsafeFlags([sanitizers, "-use-ld=lld"])]))
}
