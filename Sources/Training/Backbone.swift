import Engine
import NN

/// The backbone a config names: IResNet-18 ... 200 or MobileFaceNet, with PyTorch's state_dict keys.
public enum Backbone {
    public static let networks = ["r18", "r34", "r50", "r100", "r200", "mbf"]

    public static func make(network: String, embeddingSize: Int, imageSize: Int, seed: UInt64) throws -> any UnaryLayer {
        switch network {
        case "mbf":
            return try MobileFaceNet(embeddingSize: embeddingSize, imageSize: imageSize, initialization: .random(seed: seed))
        case let name where name.hasPrefix("r"):
            guard let depth = Int(name.dropFirst()), IResNet.stageBlocks[depth] != nil else { fallthrough }
            return try IResNet(depth: depth, imageHeight: imageSize, imageWidth: imageSize, embeddingSize: embeddingSize,
                               initialization: .random(seed: seed))
        default:
            throw ConfigError(file: "config", message: "network: expected one of \(networks.joined(separator: ", ")), found '\(network)'")
        }
    }
}
