import Engine
import NN

/// The backbone a config names: IResNet-18 ... 200 or MobileFaceNet, with PyTorch's state_dict keys.
public enum Backbone {
    public static let networks = ["r18", "r34", "r50", "r100", "r200", "mbf"]

    /// A freshly initialised backbone (the PyTorch reference's distributions, seeded).
    public static func make(network: String, embeddingSize: Int, imageSize: Int, seed: UInt64) throws -> any UnaryLayer {
        try make(network: network, embeddingSize: embeddingSize, imageSize: imageSize, initialization: .random(seed: seed))
    }

    /// A backbone initialised as `initialization` says (`.zeros` for one whose state is loaded next).
    public static func make(network: String, embeddingSize: Int, imageSize: Int,
                            initialization: Initialization) throws -> any UnaryLayer {
        switch network {
        case "mbf":
            return try MobileFaceNet(embeddingSize: embeddingSize, imageSize: imageSize, initialization: initialization)
        case let name where name.hasPrefix("r"):
            guard let depth = Int(name.dropFirst()), IResNet.stageBlocks[depth] != nil else { fallthrough }
            return try IResNet(depth: depth, imageHeight: imageSize, imageWidth: imageSize, embeddingSize: embeddingSize,
                               initialization: initialization)
        default:
            throw ConfigError(file: "config", message: "network: expected one of \(networks.joined(separator: ", ")), found '\(network)'")
        }
    }
}

extension Backbone {
    /// The IResNet (r18 ... r200) whose residual blocks per stage match a state_dict's `layerN.M.` keys; nil for
    /// anything else (MobileFaceNet, an unknown depth).
    static func iresnetDepth(of file: SafeTensors) -> String? {
        let depths = ["r18": [2, 2, 2, 2], "r34": [3, 4, 6, 3], "r50": [3, 4, 14, 3], "r100": [3, 13, 30, 3], "r200": [6, 26, 60, 6]]
        let blocks = (1...4).map { stage in
            Set(file.tensors.keys.compactMap { key -> Int? in
                let parts = key.split(separator: ".")
                return parts.count > 2 && parts[0] == "layer\(stage)" ? Int(parts[1]) : nil
            }).count
        }
        return depths.first { $0.value == blocks }?.key
    }
}

