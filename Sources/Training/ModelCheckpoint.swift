import Foundation
import NN
import ONNX

/// A backbone loaded from a safetensors file with PyTorch's keys: one written by HaarFace (its metadata
/// names the network, embedding size and input size), one exported from insightface's PyTorch model, or an
/// arcface_torch `torch.save(state_dict)` file (`TorchCheckpoint`, read without running its pickle), or an ONNX
/// recognition model (`.onnx`, as torch2onnx.py or `haarface export` writes it; `ONNXImport`). Without
/// metadata the sizes are read off the tensors' shapes and an IResNet's depth off its block keys; `network`
/// overrides.
public struct ModelCheckpoint {
    public let backbone: any UnaryLayer
    public let network: String
    public let imageSize: Int
    public let embeddingSize: Int

    public init(contentsOf url: URL, network givenNetwork: String? = nil) throws {
        let contents = try Contents(contentsOf: url, network: givenNetwork)
        // Zeros: every value is overwritten by the file's (drawing 65M random numbers for r100 would take a second).
        let backbone = try Backbone.make(network: contents.network, embeddingSize: contents.embeddingSize,
                                         imageSize: contents.imageSize, initialization: .zeros)
        try self.init(contents, loadingInto: backbone)
    }

    /// `contents` loaded into `backbone`, a network of its kind and sizes. A file that does not fit leaves
    /// `backbone` as it was (`loadState` checks every tensor before it changes one), so one backbone can take
    /// file after file (the fuzz targets build one per kind and size, not one per input).
    public init(_ contents: Contents, loadingInto backbone: any UnaryLayer) throws {
        try backbone.loadState(from: contents.file, source: contents.url.path)
        self.backbone = backbone
        self.network = contents.network
        self.imageSize = contents.imageSize
        self.embeddingSize = contents.embeddingSize
    }

    /// What a checkpoint file holds, read and checked before a network is built for it: its tensors, the
    /// network they belong to and its sizes.
    public struct Contents {
        public let url: URL
        public let file: SafeTensors
        public let network: String
        public let embeddingSize: Int
        public let imageSize: Int

        public init(contentsOf url: URL, network givenNetwork: String? = nil) throws {
            let file = try ModelCheckpoint.tensors(contentsOf: url)
            let (network, embeddingSize) = try ModelCheckpoint.describe(file, url: url, network: givenNetwork)
            let imageSize = ModelCheckpoint.imageSize(of: file, network: network)
            try ModelCheckpoint.checkSizes(of: file, url: url, network: network, embeddingSize: embeddingSize, imageSize: imageSize)
            self.url = url
            self.file = file
            self.network = network
            self.embeddingSize = embeddingSize
            self.imageSize = imageSize
        }
    }

    /// A checkpoint file's tensors: an ONNX model (told by its extension: ONNX has no magic number), else a
    /// torch.save archive or safetensors, told by the file's first bytes.
    public static func tensors(contentsOf url: URL) throws -> SafeTensors {
        if ONNXImport.isONNX(url) { return try ONNXImport.stateDict(contentsOf: url) }
        return TorchCheckpoint.isTorchSave(url) ? try TorchCheckpoint.read(contentsOf: url) : try SafeTensors.read(contentsOf: url)
    }

    /// The backbone as an ONNX model (`haarface export`): torch2onnx's conventions (input `data`
    /// [batch, 3, H, W], opset 11), batch norms folded into the convolutions before them when `foldBatchNorm`;
    /// written atomically.
    public func exportONNX(to url: URL, foldBatchNorm: Bool) throws {
        let data = try ONNXExport.serializedModel(of: backbone, imageSize: imageSize, foldBatchNorm: foldBatchNorm,
                                                  metadata: ["network": network, "producer": "haarface"])
        try AtomicFile.write(data, to: url)
    }

    /// The network (given, else the metadata's, else an IResNet's depth from its keys) and the embedding size
    /// (the final `features` batch norm's length) of a backbone's tensors.
    static func describe(_ file: SafeTensors, url: URL, network givenNetwork: String?) throws -> (network: String, embeddingSize: Int) {
        let isMobileFaceNet = file[mobileFaceNetMarker] != nil
        guard let network = givenNetwork ?? file.metadata["network"] ?? Backbone.iresnetDepth(of: file)
            ?? (isMobileFaceNet ? "mbf" : nil) else {
            throw ConfigError(file: url.path, message: "the file does not say which network it holds (no 'network' metadata, not an IResNet's or a MobileFaceNet's keys): pass --network \(Network.names.joined(separator: "|"))")
        }
        // The embedding is the final batch norm's length: IResNet's `features`, MobileFaceNet's GDC `features.layers.3`.
        let finalNorm = network == "mbf" ? "features.layers.3" : "features"
        guard let features = file[finalNorm + ".weight"] ?? file[finalNorm + ".bias"], features.shape.count == 1 else {
            throw ConfigError(file: url.path, message: "no '\(finalNorm).weight' tensor: not an insightface \(network) backbone's state_dict")
        }
        return (network, features.shape[0])
    }

    /// A key only MobileFaceNet's state_dict has.
    static let mobileFaceNetMarker = "conv_sep.layers.0.weight"

    static func imageSize(of file: SafeTensors, network: String) -> Int {
        var imageSize = Int(file.metadata["image_size"] ?? "") ?? 112
        if file.metadata["image_size"] == nil, network == "mbf", let gdc = file["features.layers.0.layers.0.weight"], gdc.shape.count == 4 {
            imageSize = 16 * gdc.shape[3]   // the GDC's depthwise kernel covers the last (H/16 x W/16) map
        }
        if file.metadata["image_size"] == nil, network != "mbf", let fc = file["fc.weight"], fc.shape.count == 2 {
            // IResNet's fc takes 512 * (H/16) * (W/16) features: square inputs are assumed.
            let cells = fc.shape[1] / 512
            let side = Int(Double(cells).squareRoot().rounded())
            if side * side == cells { imageSize = side * 16 }
        }
        return imageSize
    }

    /// The largest input side a checkpoint may declare (arcface_torch trains at 112).
    static let largestImageSize = 1024

    /// Refuses, before a backbone is built for it, a file whose declared sizes the network cannot have or
    /// whose tensors could not fill it: the input side (a multiple of 16 up to `largestImageSize`), and for an
    /// IResNet the shape of `fc`, its largest tensor, which grows with the input and the embedding (a damaged
    /// `image_size` otherwise built a network of billions of parameters).
    static func checkSizes(of file: SafeTensors, url: URL, network: String, embeddingSize: Int, imageSize: Int) throws {
        guard imageSize >= 16, imageSize <= largestImageSize, imageSize % 16 == 0 else {
            throw ConfigError(file: url.path, message: "the input size is \(imageSize): a backbone takes a multiple of 16 up to \(largestImageSize)")
        }
        guard network != "mbf" else { return }
        let cells = (imageSize / 16) * (imageSize / 16)
        let expected = [embeddingSize, 512 * cells]
        guard let fc = file["fc.weight"], fc.shape == expected else {
            let found = file["fc.weight"].map { "\($0.shape)" } ?? "missing"
            throw ConfigError(file: url.path, message: "'fc.weight' is \(found): an \(network) at \(imageSize) px with embedding "
                + "\(embeddingSize) has \(expected)")
        }
    }

    /// Loads a checkpoint's weights into `backbone`, a fresh `network` of `embeddingSize` at `imageSize`
    /// (`train --init`, fine-tuning): a file of another network, embedding or input size is an error naming both.
    static func initialize(_ backbone: any UnaryLayer, from url: URL, network: String, embeddingSize: Int, imageSize: Int) throws {
        let found = try Contents(contentsOf: url)
        func refuse(_ what: String, _ theirs: String, _ ours: String) -> ConfigError {
            ConfigError(file: url.path, message: "--init: the checkpoint's \(what) is \(theirs), this run's is \(ours)")
        }
        guard found.network == network else { throw refuse("network", found.network, network) }
        guard found.embeddingSize == embeddingSize else { throw refuse("embedding size", "\(found.embeddingSize)", "\(embeddingSize)") }
        guard found.imageSize == imageSize else { throw refuse("input size", "\(found.imageSize)", "\(imageSize)") }
        try backbone.loadState(from: found.file, source: url.path)
    }
}
