import Engine
import NN

/// The backbone a config names: IResNet-18 ... 200 or MobileFaceNet, with PyTorch's state_dict keys.
public enum Backbone {
    /// The networks a config may name (`Network`'s list).
    public static let networks = Network.names

    /// A freshly initialised backbone (the PyTorch reference's distributions, seeded).
    public static func make(network: String, embeddingSize: Int, imageSize: Int, seed: UInt64) throws -> any UnaryLayer {
        try make(network: network, embeddingSize: embeddingSize, imageSize: imageSize, initialization: .random(seed: seed))
    }

    /// A backbone initialised as `initialization` says (`.zeros` for one whose state is loaded next).
    public static func make(network: String, embeddingSize: Int, imageSize: Int,
                            initialization: Initialization) throws -> any UnaryLayer {
        guard let known = Network(rawValue: network) else {
            throw ConfigError(file: "config", message: "network: expected \(Network.nameList), found '\(network)'")
        }
        guard let depth = known.iresnetDepth else {
            return try MobileFaceNet(embeddingSize: embeddingSize, imageSize: imageSize, initialization: initialization)
        }
        return try IResNet(depth: depth, imageHeight: imageSize, imageWidth: imageSize, embeddingSize: embeddingSize,
                           initialization: initialization)
    }
}

extension Backbone {
    /// The IResNet (r18 ... r200) whose residual blocks per stage match a state_dict's `layerN.M.` keys; nil for
    /// anything else (MobileFaceNet, an unknown depth).
    static func iresnetDepth(of file: SafeTensors) -> String? {
        let blocks = (1...4).map { stage in
            Set(file.tensors.keys.compactMap { key -> Int? in
                let parts = key.split(separator: ".")
                return parts.count > 2 && parts[0] == "layer\(stage)" ? Int(parts[1]) : nil
            }).count
        }
        return Network.allCases.first { $0.stageBlocks == blocks }?.rawValue
    }
}

