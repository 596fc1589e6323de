import Foundation
import NN

/// A backbone loaded from a safetensors file with PyTorch's keys: one written by HaarFace (its metadata
/// names the network, embedding size and input size), one exported from insightface's PyTorch model, or an
/// arcface_torch `torch.save(state_dict)` file (`TorchCheckpoint`, read without running its pickle). Without
/// metadata the sizes are read off the tensors' shapes and an IResNet's depth off its block keys; `network`
/// overrides.
public struct ModelCheckpoint {
    public let backbone: any UnaryLayer
    public let network: String
    public let imageSize: Int
    public let embeddingSize: Int

    public init(contentsOf url: URL, network givenNetwork: String? = nil) throws {
        let file = TorchCheckpoint.isTorchSave(url) ? try TorchCheckpoint.read(contentsOf: url) : try SafeTensors.read(contentsOf: url)
        guard let network = givenNetwork ?? file.metadata["network"] ?? Backbone.iresnetDepth(of: file) else {
            throw ConfigError(file: url.path, message: "the file does not say which network it holds (no 'network' metadata): pass --network r18|r34|r50|r100|r200|mbf")
        }
        guard let features = file["features.weight"] ?? file["features.bias"], features.shape.count == 1 else {
            throw ConfigError(file: url.path, message: "no 'features.weight' tensor: not an insightface backbone's state_dict")
        }
        let embeddingSize = features.shape[0]
        var imageSize = Int(file.metadata["image_size"] ?? "") ?? 112
        if file.metadata["image_size"] == nil, network != "mbf", let fc = file["fc.weight"], fc.shape.count == 2 {
            // IResNet's fc takes 512 * (H/16) * (W/16) features: square inputs are assumed.
            let cells = fc.shape[1] / 512
            let side = Int(Double(cells).squareRoot().rounded())
            if side * side == cells { imageSize = side * 16 }
        }
        let backbone = try Backbone.make(network: network, embeddingSize: embeddingSize, imageSize: imageSize, seed: 0)
        try backbone.loadState(from: file, source: url.path)
        self.backbone = backbone
        self.network = network
        self.imageSize = imageSize
        self.embeddingSize = embeddingSize
    }
}
