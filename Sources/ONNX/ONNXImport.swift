// ONNX import of IResNet and MobileFaceNet recognition models as torch.onnx.export (arcface_torch's torch2onnx.py)
// and `haarface export` write them. The network is read off the graph (grouped convolutions: MobileFaceNet; else
// an IResNet whose depth is its convolution count), a fresh HaarFace backbone of that shape is traced
// (`LayerGraph`), and its nodes are matched one by one against the file's, following the data from the input:
// each HaarFace layer takes its weights from the ONNX node that computes it. Batch norms folded into the
// convolution before them (torch's export does this in evaluation mode) come back as identity batch norms
// holding the folded bias. Anything else in the graph is refused, naming the first node that does not fit.
import Engine
import Foundation
import NN
import SwiftProtobuf

public enum ONNXImport {
    /// The state (PyTorch keys, float32) of the backbone in an ONNX file, with metadata `network` (r18 ... r200,
    /// mbf), `image_size` and `embedding_size`.
    public static func stateDict(contentsOf url: URL) throws -> SafeTensors {
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw ONNXError(file: url.path, problem: "cannot read the file: \(error.localizedDescription)")
        }
        return try stateDict(serialized: data, file: url.path)
    }

    public static func stateDict(serialized data: Data, file: String) throws -> SafeTensors {
        let model: Onnx_ModelProto
        do { model = try Onnx_ModelProto(serializedBytes: data) } catch {
            throw ONNXError(file: file, problem: "not an ONNX model (the protobuf does not parse: \(error))")
        }
        guard model.hasGraph, !model.graph.node.isEmpty else {
            throw ONNXError(file: file, problem: "the ONNX model has no graph")
        }
        var matcher = try GraphMatcher(model.graph, file: file)
        let shape = try matcher.backboneShape()
        let backbone: Module
        switch shape {
        case .mobileFaceNet(let embeddingSize):
            backbone = try MobileFaceNet(embeddingSize: embeddingSize, initialization: .zeros)
        case .iresnet(let depth, let widths, let imageSize, let embeddingSize):
            backbone = try IResNet(depth: depth, widths: widths, imageHeight: imageSize, imageWidth: imageSize,
                                   embeddingSize: embeddingSize, initialization: .zeros)
        }
        try matcher.load(into: LayerGraph(tracing: backbone))
        return backbone.stateTensors(metadata: [
            "network": shape.network, "image_size": "\(shape.imageSize)", "embedding_size": "\(shape.embeddingSize)",
            "format": "onnx",
        ])
    }

    /// Whether a file is to be read as ONNX: ONNX has no magic number, so it is told by its extension.
    public static func isONNX(_ url: URL) -> Bool { url.pathExtension.lowercased() == "onnx" }
}

/// Which backbone a graph holds.
enum BackboneShape {
    case iresnet(depth: Int, widths: [Int], imageSize: Int, embeddingSize: Int)
    case mobileFaceNet(embeddingSize: Int)

    var network: String {
        switch self {
        case .iresnet(let depth, _, _, _): return Network.iresnet(depth: depth)?.rawValue ?? "r\(depth)"
        case .mobileFaceNet: return Network.mbf.rawValue
        }
    }

    var imageSize: Int {
        switch self {
        case .iresnet(_, _, let imageSize, _): return imageSize
        case .mobileFaceNet: return 112
        }
    }

    var embeddingSize: Int {
        switch self {
        case .iresnet(_, _, _, let size), .mobileFaceNet(let size): return size
        }
    }
}

/// The file's graph: its nodes in order, its constants (initializers, Constant nodes and constant-folded
/// Unsqueeze/Reshape of them) and aliases (Identity, Dropout, and Squeeze/Unsqueeze of data, which change no
/// values), and which nodes the matching has used so far.
struct GraphMatcher {
    struct Constant {
        let shape: [Int]
        let values: [Float]
    }

    let file: String
    let nodes: [Onnx_NodeProto]
    let inputName: String
    let outputName: String
    private(set) var constants: [String: Constant] = [:]
    private var aliases: [String: String] = [:]
    private var used: Set<Int> = []

    init(_ graph: Onnx_GraphProto, file: String) throws {
        self.file = file
        nodes = graph.node
        for tensor in graph.initializer { constants[tensor.name] = try Self.constant(tensor, file: file) }
        let initializerNames = Set(graph.initializer.map(\.name))
        guard let input = graph.input.first(where: { !initializerNames.contains($0.name) }) else {
            throw ONNXError(file: file, problem: "the graph has no image input")
        }
        guard graph.output.count == 1 else {
            throw ONNXError(file: file, problem: "the graph has \(graph.output.count) outputs; a recognition model has one, the embedding")
        }
        inputName = input.name
        outputName = graph.output[0].name
        for (index, node) in nodes.enumerated() {
            let reshapesConstant = ["Unsqueeze", "Squeeze", "Reshape"].contains(node.opType) && constants[node.input.first ?? ""] != nil
            switch node.opType {
            case _ where reshapesConstant:
                // A constant reshaped (torch writes PReLU's slope as Unsqueeze of a [C] weight in some versions).
                let source = constants[node.input[0]]!
                constants[node.output[0]] = Constant(shape: [source.values.count], values: source.values)
                used.insert(index)
            case "Constant":
                guard let value = node.attribute.first(where: { $0.name == "value" }), value.hasT, node.output.count == 1 else {
                    throw ONNXError(file: file, problem: "Constant node '\(node.name)' has no tensor value")
                }
                constants[node.output[0]] = try Self.constant(value.t, file: file)
                used.insert(index)
            case "Identity", "Dropout", "Unsqueeze", "Squeeze":
                aliases[node.output[0]] = resolve(node.input[0])
                used.insert(index)
            default:
                break
            }
        }
    }

    /// The value a name stands for once aliases are followed.
    func resolve(_ name: String) -> String {
        var name = name
        while let target = aliases[name] { name = target }
        return name
    }

    // MARK: - Which backbone

    func backboneShape() throws -> BackboneShape {
        let convolutions = nodes.filter { $0.opType == "Conv" }
        let weights = try convolutions.map { try constant($0, input: 1) }
        guard let stem = weights.first, stem.shape.count == 4 else {
            throw ONNXError(file: file, problem: "the graph has no convolution: not an IResNet or MobileFaceNet")
        }
        let embeddingSize = try self.embeddingSize()
        if convolutions.contains(where: { Self.integer($0, "group", default: 1) > 1 }) {
            return .mobileFaceNet(embeddingSize: embeddingSize)
        }
        // IResNet: the stem, two convolutions per block and one 1x1 shortcut convolution per stage.
        let blocks = (convolutions.count - 5) / 2
        guard let depth = IResNet.stageBlocks.first(where: { $0.value.reduce(0, +) == blocks && convolutions.count == 5 + 2 * blocks })?.key else {
            throw ONNXError(file: file, problem: "\(convolutions.count) convolutions, none grouped: not an IResNet-18/34/50/100/200 (21, 37, 53, 103 or 201) nor a MobileFaceNet")
        }
        let shortcuts = weights.filter { $0.shape.count == 4 && $0.shape[2] == 1 && $0.shape[3] == 1 }.map { $0.shape[0] }
        guard shortcuts.count == 4 else {
            throw ONNXError(file: file, problem: "an IResNet has four 1x1 shortcut convolutions, this graph \(shortcuts.count)")
        }
        // fc reads last width x (H/16) x (W/16) features; square inputs.
        let fcInputs = try linearWeight().inFeatures
        let cells = fcInputs / shortcuts[3]
        let side = Int(Double(cells).squareRoot().rounded())
        guard side * side == cells, side * shortcuts[3] * side == fcInputs else {
            throw ONNXError(file: file, problem: "the fc layer takes \(fcInputs) features, not \(shortcuts[3]) x a square map")
        }
        return .iresnet(depth: depth, widths: shortcuts, imageSize: side * 16, embeddingSize: embeddingSize)
    }

    private func embeddingSize() throws -> Int { try linearWeight().outFeatures }

    /// The embedding layer's weight: the last Gemm or MatMul.
    private func linearWeight() throws -> (inFeatures: Int, outFeatures: Int) {
        guard let node = nodes.last(where: { $0.opType == "Gemm" || $0.opType == "MatMul" }) else {
            throw ONNXError(file: file, problem: "the graph has no Gemm or MatMul: no embedding layer")
        }
        let weight = try constant(node, input: 1)
        guard weight.shape.count == 2 else {
            throw ONNXError(file: file, problem: "node '\(node.name)' (\(node.opType)) has a \(weight.shape.count)-d weight")
        }
        let transposed = node.opType == "Gemm" && Self.integer(node, "transB", default: 0) == 1
        return transposed ? (weight.shape[1], weight.shape[0]) : (weight.shape[0], weight.shape[1])
    }

    // MARK: - Matching

    /// Walks `graph` (a fresh backbone's trace) and fills its modules with the weights of the nodes that compute
    /// each of its values; throws at the first HaarFace layer that no remaining node computes.
    mutating func load(into graph: LayerGraph) throws {
        var names = [LayerGraph.input: inputName]
        var handled = Set<Int>()   // batch-norm values set together with the layer before them
        for (index, node) in graph.nodes.enumerated() where !handled.contains(node.output) {
            let inputs = node.inputs.map { names[$0]! }
            let next = index + 1 < graph.nodes.count ? graph.nodes[index + 1] : nil
            var followingNorm: (norm: BatchNorm, output: Int)?
            if let next, case .batchNorm(let norm) = next.operation, next.inputs == [node.output] {
                followingNorm = (norm, next.output)
            }
            switch node.operation {
            case .convolution(let conv):
                let (found, onnx) = try take("Conv", reading: inputs, for: conv.name)
                try check(onnx, conv)
                conv.weight.values = try values(onnx, input: 1, count: conv.weight.count, shape: conv.weight.shape)
                let bias = onnx.input.count > 2 ? try values(onnx, input: 2, count: conv.weight.shape[0]) : nil
                names[node.output] = found
                if let followingNorm {
                    names[followingNorm.output] = try normAfter(found, norm: followingNorm.norm, bias: bias)
                    handled.insert(followingNorm.output)
                } else if bias != nil {
                    throw ONNXError(file: file, problem: "node '\(onnx.name)' (Conv) has a bias, which \(conv.name) has not")
                }
            case .batchNorm(let norm):
                names[node.output] = try normAfter(inputs[0], norm: norm, bias: nil, foldedAway: false)
            case .prelu(let prelu):
                let (found, onnx) = try take("PRelu", reading: inputs, for: prelu.name)
                prelu.weight.values = try values(onnx, input: 1, count: prelu.weight.count)
                names[node.output] = found
            case .add:
                names[node.output] = try take("Add", reading: inputs, for: "a residual add", unordered: true).output
            case .flatten:
                names[node.output] = try takeFlatten(reading: inputs[0])
            case .linear(let linear):
                let (found, bias) = try takeLinear(reading: inputs[0], into: linear)
                names[node.output] = found
                if let followingNorm, linear.bias == nil {
                    names[followingNorm.output] = try normAfter(found, norm: followingNorm.norm, bias: bias)
                    handled.insert(followingNorm.output)
                } else if let bias {
                    guard let target = linear.bias else {
                        throw ONNXError(file: file, problem: "the embedding layer has a bias, which \(linear.name) has not")
                    }
                    target.values = bias
                } else {
                    linear.bias?.values = [Float](repeating: 0, count: linear.weight.shape[0])
                }
            }
        }
        guard resolve(outputName) == names[graph.output] else {
            throw ONNXError(file: file, problem: "the graph's output '\(outputName)' is not the embedding HaarFace computes ('\(names[graph.output]!)')")
        }
        if let index = nodes.indices.first(where: { !used.contains($0) }) {
            throw ONNXError(file: file, problem: "node '\(nodes[index].name)' (\(nodes[index].opType)) does not fit \(graph.nodes.count)-layer HaarFace backbone: it is left over after matching every layer")
        }
    }

    /// The batch norm after a convolution or linear layer: the file's BatchNormalization reading `input`, or,
    /// when the file folded it away, an identity (scale 1, mean 0, variance 1 - eps) holding the folded bias.
    /// A bias of the layer before it (which HaarFace's layer has not) moves into the running mean.
    private mutating func normAfter(_ input: String, norm: BatchNorm, bias: [Float]?, foldedAway allowed: Bool = true) throws -> String {
        let channels = norm.weight.count
        if let (found, onnx) = try? take("BatchNormalization", reading: [input], for: norm.name, required: !allowed) {
            let epsilon = onnx.attribute.first { $0.name == "epsilon" }.map(\.f) ?? 1e-5
            norm.weight.values = try values(onnx, input: 1, count: channels)
            norm.bias.values = try values(onnx, input: 2, count: channels)
            let mean = try values(onnx, input: 3, count: channels)
            norm.runningMean.values = zip(mean, bias ?? [Float](repeating: 0, count: channels)).map { $0 - $1 }
            // The same division under HaarFace's epsilon.
            let variance = try values(onnx, input: 4, count: channels)
            norm.runningVar.values = epsilon == norm.epsilon ? variance : variance.map { $0 + epsilon - norm.epsilon }
            return found
        }
        norm.weight.values = [Float](repeating: 1, count: channels)
        norm.bias.values = bias ?? [Float](repeating: 0, count: channels)
        norm.runningMean.values = [Float](repeating: 0, count: channels)
        norm.runningVar.values = [Float](repeating: 1 - norm.epsilon, count: channels)
        return input
    }

    /// The first unused node of type `opType` whose data inputs are `inputs` (in order, or in any order).
    @discardableResult
    private mutating func take(_ opType: String, reading inputs: [String], for layer: String, unordered: Bool = false,
                               required: Bool = true) throws -> (output: String, node: Onnx_NodeProto) {
        for (index, node) in nodes.enumerated() where !used.contains(index) && node.opType == opType {
            let dataInputs = node.input.prefix(inputs.count).map(resolve)
            let fits = unordered ? dataInputs.sorted() == inputs.sorted() : dataInputs == inputs
            guard fits, node.output.count >= 1 else { continue }
            used.insert(index)
            return (node.output[0], node)
        }
        throw misfit(expected: "\(opType) reading \(inputs.joined(separator: ", ")) for \(layer)")
    }

    /// The error naming the first node not yet matched.
    private func misfit(expected: String) -> ONNXError {
        guard let index = nodes.indices.first(where: { !used.contains($0) }) else {
            return ONNXError(file: file, problem: "the graph ends before HaarFace's backbone does: expected \(expected)")
        }
        let node = nodes[index]
        return ONNXError(file: file, problem: "node '\(node.name)' (\(node.opType) reading \(node.input.map(resolve).joined(separator: ", "))) does not fit: expected \(expected)")
    }

    /// Flatten(axis 1), or a Reshape to [N, -1] whose shape is constant or computed from the input's shape
    /// (torch's `x.view(x.size(0), -1)`: Shape, Gather, Unsqueeze, Concat), which is then used up too.
    private mutating func takeFlatten(reading input: String) throws -> String {
        for (index, node) in nodes.enumerated() where !used.contains(index) && node.input.first.map(resolve) == input {
            if node.opType == "Flatten", Self.integer(node, "axis", default: 1) == 1 {
                used.insert(index)
                return node.output[0]
            }
            if node.opType == "Reshape", node.input.count == 2 {
                if let shape = constants[node.input[1]] {
                    guard shape.values.count == 2 else { continue }
                } else {
                    useShapeArithmetic(producing: node.input[1], from: input)
                }
                used.insert(index)
                return node.output[0]
            }
        }
        throw misfit(expected: "Flatten (axis 1) or Reshape to [batch, features] reading \(input)")
    }

    /// Marks as used the nodes that compute `name` from the shape of `source` only.
    private mutating func useShapeArithmetic(producing name: String, from source: String) {
        let arithmetic: Set<String> = ["Shape", "Gather", "Unsqueeze", "Concat", "Slice", "Cast", "Squeeze"]
        var pending = [name]
        while let value = pending.popLast() {
            // Squeeze and Unsqueeze are aliases, already used: follow them all the same.
            guard let index = nodes.indices.first(where: { nodes[$0].output.contains(value) }),
                  arithmetic.contains(nodes[index].opType) else { continue }
            used.insert(index)
            pending += nodes[index].input.filter { resolve($0) != source && constants[$0] == nil }
        }
    }

    /// Gemm (alpha 1, no transposed A), or MatMul followed by an Add of the bias; returns the output and the bias.
    private mutating func takeLinear(reading input: String, into linear: Linear) throws -> (String, [Float]?) {
        let out = linear.weight.shape[0], features = linear.weight.shape[1]
        if let (found, node) = try? take("Gemm", reading: [input], for: linear.name) {
            guard Self.integer(node, "transA", default: 0) == 0, node.attribute.first(where: { $0.name == "alpha" })?.f ?? 1 == 1,
                  node.attribute.first(where: { $0.name == "beta" })?.f ?? 1 == 1 else {
                throw ONNXError(file: file, problem: "node '\(node.name)' (Gemm) scales or transposes its input; an embedding layer does neither")
            }
            let weight = try values(node, input: 1, count: out * features)
            let transposed = Self.integer(node, "transB", default: 0) == 1
            linear.weight.values = transposed ? weight : Self.transpose(weight, rows: features, columns: out)
            let bias = node.input.count > 2 && !node.input[2].isEmpty ? try values(node, input: 2, count: out) : nil
            return (found, bias)
        }
        let (product, node) = try take("MatMul", reading: [input], for: linear.name)
        linear.weight.values = Self.transpose(try values(node, input: 1, count: out * features), rows: features, columns: out)
        for (index, add) in nodes.enumerated() where !used.contains(index) && add.opType == "Add" && add.input.count == 2 {
            let inputs = add.input.map(resolve)
            guard let biasName = inputs.first(where: { constants[$0] != nil }), inputs.contains(product) else { continue }
            used.insert(index)
            return (add.output[0], try values(named: biasName, node: add, count: out))
        }
        return (product, nil)
    }

    private func check(_ node: Onnx_NodeProto, _ conv: Conv2d) throws {
        let kernel = Array(conv.weight.shape.suffix(2))
        let expected: [(String, [Int])] = [
            ("strides", [conv.stride, conv.stride]), ("pads", [Int](repeating: conv.padding, count: 4)),
            ("dilations", [1, 1]), ("kernel_shape", kernel),
        ]
        for (name, values) in expected {
            guard let attribute = node.attribute.first(where: { $0.name == name }) else {
                if name == "kernel_shape" || values.allSatisfy({ $0 == (name == "pads" ? 0 : 1) }) { continue }
                throw ONNXError(file: file, problem: "node '\(node.name)' (Conv) has no \(name); \(conv.name) needs \(values)")
            }
            guard attribute.ints.map(Int.init) == values else {
                throw ONNXError(file: file, problem: "node '\(node.name)' (Conv) has \(name) \(attribute.ints), \(conv.name) needs \(values)")
            }
        }
        guard Self.integer(node, "group", default: 1) == conv.groups else {
            throw ONNXError(file: file, problem: "node '\(node.name)' (Conv) has group \(Self.integer(node, "group", default: 1)), \(conv.name) needs \(conv.groups)")
        }
        if let autoPad = node.attribute.first(where: { $0.name == "auto_pad" }), autoPad.s != Data("NOTSET".utf8) {
            throw ONNXError(file: file, problem: "node '\(node.name)' (Conv) pads automatically (\(String(decoding: autoPad.s, as: UTF8.self))); explicit pads expected")
        }
    }

    // MARK: - Constants

    private func constant(_ node: Onnx_NodeProto, input: Int) throws -> Constant {
        guard input < node.input.count, let constant = constants[node.input[input]] else {
            throw ONNXError(file: file, problem: "node '\(node.name)' (\(node.opType)): input \(input) is not a constant weight")
        }
        return constant
    }

    /// A node's constant input as `count` floats (and `shape`, when given).
    private func values(_ node: Onnx_NodeProto, input: Int, count: Int, shape: [Int]? = nil) throws -> [Float] {
        let constant = try self.constant(node, input: input)
        if let shape, constant.shape != shape {
            throw ONNXError(file: file, problem: "node '\(node.name)' (\(node.opType)): weight '\(node.input[input])' has shape \(constant.shape), HaarFace's layer \(shape)")
        }
        guard constant.values.count == count else {
            throw ONNXError(file: file, problem: "node '\(node.name)' (\(node.opType)): '\(node.input[input])' has \(constant.values.count) values, HaarFace's layer \(count)")
        }
        return constant.values
    }

    private func values(named name: String, node: Onnx_NodeProto, count: Int) throws -> [Float] {
        guard let constant = constants[name], constant.values.count == count else {
            throw ONNXError(file: file, problem: "node '\(node.name)' (\(node.opType)): '\(name)' is not \(count) constant values")
        }
        return constant.values
    }

    static func integer(_ node: Onnx_NodeProto, _ name: String, default value: Int) -> Int {
        node.attribute.first { $0.name == name }.map { Int($0.i) } ?? value
    }

    static func transpose(_ values: [Float], rows: Int, columns: Int) -> [Float] {
        var result = [Float](repeating: 0, count: values.count)
        for row in 0..<rows { for column in 0..<columns { result[column * rows + row] = values[row * columns + column] } }
        return result
    }

    /// The most elements a tensor may have (2^32, 16 GiB of float32: far more than any backbone weight).
    static let largestElementCount = 1 << 32

    /// A tensor's values as float32: FLOAT, FLOAT16, BFLOAT16, DOUBLE and the integer types (shapes), from
    /// raw little-endian bytes or the typed fields.
    static func constant(_ tensor: Onnx_TensorProto, file: String) throws -> Constant {
        let shape = tensor.dims.map(Int.init)
        // The dimensions are the file's word: each checked, and their product bounded before it is used (a
        // fuzzed file's dimensions multiplied past Int64 and trapped; the onnx fuzz target's find).
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: max(dimension, 1))
            guard dimension >= 0, !overflow, product <= Self.largestElementCount else {
                throw ONNXError(file: file, problem: "tensor '\(tensor.name)' has shape \(shape), "
                                + (dimension < 0 ? "a negative dimension" : "more than \(Self.largestElementCount) elements"))
            }
            count = dimension == 0 ? 0 : product
        }
        if tensor.dataLocation == .external {
            throw ONNXError(file: file, problem: "tensor '\(tensor.name)' is stored in an external file; save the model with its weights inside")
        }
        let raw = tensor.rawData
        func fromRaw<T>(_ type: T.Type, _ convert: (T) -> Float) throws -> [Float] {
            guard raw.count == count * MemoryLayout<T>.size else {
                throw ONNXError(file: file, problem: "tensor '\(tensor.name)' has \(raw.count) bytes of data for shape \(shape)")
            }
            return raw.withUnsafeBytes { bytes in (0..<count).map { convert(bytes.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) } }
        }
        let values: [Float]
        switch Onnx_TensorProto.DataType(rawValue: Int(tensor.dataType)) {
        case .float?:
            values = raw.isEmpty ? tensor.floatData : try fromRaw(Float.self) { $0 }
        case .float16?:
            values = raw.isEmpty ? tensor.int32Data.map { Float(Float16(bitPattern: UInt16(truncatingIfNeeded: $0))) }
                                 : try fromRaw(UInt16.self) { Float(Float16(bitPattern: UInt16(littleEndian: $0))) }
        case .bfloat16?:
            values = raw.isEmpty ? tensor.int32Data.map { Float(bitPattern: UInt32(truncatingIfNeeded: $0) << 16) }
                                 : try fromRaw(UInt16.self) { Float(bitPattern: UInt32(UInt16(littleEndian: $0)) << 16) }
        case .double?:
            values = raw.isEmpty ? tensor.doubleData.map { Float($0) } : try fromRaw(Double.self) { Float($0) }
        case .int64?:
            values = raw.isEmpty ? tensor.int64Data.map { Float($0) } : try fromRaw(Int64.self) { Float(Int64(littleEndian: $0)) }
        case .int32?:
            values = raw.isEmpty ? tensor.int32Data.map { Float($0) } : try fromRaw(Int32.self) { Float(Int32(littleEndian: $0)) }
        default:
            throw ONNXError(file: file, problem: "tensor '\(tensor.name)' has data type \(tensor.dataType), not a float or integer type")
        }
        guard values.count == count else {
            throw ONNXError(file: file, problem: "tensor '\(tensor.name)' has \(values.count) values for shape \(shape)")
        }
        return Constant(shape: shape, values: values)
    }
}
