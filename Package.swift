// swift-tools-version:6.0
// HaarFace: face-recognition training with the MHLR learning-rate scheduler.
// Targets are layered; dependencies point only downward (see shared STYLE.md):
//   CDNNL, CTurboJPEG (system libraries)
//   MHLR (schedulers, log replay)   Plots (SVG charts)
//   Engine (tensors, oneDNN, autograd) -> NN (modules, backbones, SGD, safetensors)
//   FaceData (JPEG, RecordIO, .bin, folders, synthetic identities, loader)
//   haarface (command-line tool)
import PackageDescription

let package = Package(
    name: "HaarFace",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "MHLR", targets: ["MHLR"]),
        .executable(name: "haarface", targets: ["haarface"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG"),

        .target(name: "MHLR"),
        .target(name: "Plots"),
        .target(name: "Engine", dependencies: ["CDNNL"], exclude: ["README.md"]),
        .target(name: "NN", dependencies: ["Engine"], exclude: ["README.md"]),
        .target(name: "FaceData", dependencies: ["CTurboJPEG"]),

        // Engine kernel micro-benchmark (not part of the tests): swift run -c release engine-bench
        .executableTarget(name: "engine-bench", dependencies: ["Engine"], path: "Sources/EngineBench"),
        .executableTarget(
            name: "haarface",
            dependencies: [
                "MHLR", "Plots", "Engine", "NN", "FaceData",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(name: "MHLRTests", dependencies: ["MHLR"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine"], exclude: ["Fixtures"]),
        .testTarget(name: "NNTests", dependencies: ["NN"], exclude: ["Fixtures"]),
        .testTarget(name: "FaceDataTests", dependencies: ["FaceData"]),
        .testTarget(name: "HaarFaceCLITests", dependencies: ["haarface"]),
    ],
    swiftLanguageModes: [.v5]
)
