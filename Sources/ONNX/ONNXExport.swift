// ONNX export of a backbone as arcface_torch's torch2onnx.py writes one: evaluation mode, one float32 input
// `data` [batch, 3, H, W] with a dynamic batch, opset 11, the embedding as the only output, the weights as
// initializers named by their PyTorch keys. The graph is the backbone's own trace (`LayerGraph`).
import Foundation
import NN
import SwiftProtobuf

public enum ONNXExport {
    /// The opset written: torch2onnx's default, read by every ONNX Runtime since 1.0.
    public static let opset: Int64 = 11
    /// The IR version that goes with opset 11.
    static let irVersion: Int64 = 6
    public static let inputName = "data"
    public static let outputName = "embedding"

    /// The serialized ModelProto of `backbone` (in evaluation mode whatever mode it is in: running
    /// statistics, no dropout) for `imageSize` x `imageSize` inputs. `foldBatchNorm` folds each batch norm that
    /// directly follows a convolution into it (a bias appears); the others stay BatchNormalization nodes.
    public static func serializedModel(of backbone: Module, imageSize: Int, foldBatchNorm: Bool = false,
                                       metadata: [String: String] = [:]) throws -> Data {
        let graph = try LayerGraph(tracing: backbone)
        var builder = GraphBuilder()
        var names = [LayerGraph.input: inputName]
        var folded = Set<Int>()   // BN nodes' output values that a convolution absorbed
        for (index, node) in graph.nodes.enumerated() {
            if folded.contains(node.output) { continue }
            let inputs = node.inputs.map { names[$0]! }
            var output = node.output == graph.output ? outputName : node.operation.module?.name ?? "value\(node.output)"
            switch node.operation {
            case .convolution(let conv):
                var weight = conv.weight.values
                var bias = conv.bias?.values
                if foldBatchNorm, index + 1 < graph.nodes.count, case .batchNorm(let norm) = graph.nodes[index + 1].operation,
                   graph.nodes[index + 1].inputs == [node.output], graph.consumers(of: node.output).count == 1 {
                    (weight, bias) = BatchNormFolding.fold(weight: weight, bias: bias, into: norm)
                    let normNode = graph.nodes[index + 1]
                    folded.insert(normNode.output)
                    names[normNode.output] = normNode.output == graph.output ? outputName : norm.name
                    output = names[normNode.output]!
                }
                var nodeInputs = [inputs[0], builder.initializer(conv.weight.name, weight, conv.weight.shape)]
                if let bias { nodeInputs.append(builder.initializer(Module.key(conv.name, "bias"), bias, [conv.weight.shape[0]])) }
                let kernel = Array(conv.weight.shape.suffix(2))
                builder.node("Conv", nodeInputs, output, name: conv.name, attributes: [
                    .ints("kernel_shape", kernel), .ints("strides", [conv.stride, conv.stride]),
                    .ints("pads", [Int](repeating: conv.padding, count: 4)), .ints("dilations", [1, 1]),
                    .int("group", conv.groups),
                ])
            case .batchNorm(let norm):
                let channels = [norm.weight.shape[0]]
                builder.node("BatchNormalization", [
                    inputs[0], builder.initializer(norm.weight.name, norm.weight.values, channels),
                    builder.initializer(norm.bias.name, norm.bias.values, channels),
                    builder.initializer(norm.runningMean.name, norm.runningMean.values, channels),
                    builder.initializer(norm.runningVar.name, norm.runningVar.values, channels),
                ], output, name: norm.name, attributes: [.float("epsilon", norm.epsilon), .float("momentum", 1 - norm.momentum)])
            case .prelu(let prelu):
                // ONNX broadcasts the slope from the right: [C, 1, 1] against [N, C, H, W], as torch exports it.
                let slope = builder.initializer(prelu.weight.name, prelu.weight.values, [prelu.weight.shape[0], 1, 1])
                builder.node("PRelu", [inputs[0], slope], output, name: prelu.name)
            case .add:
                builder.node("Add", inputs, output, name: "add\(node.output)")
            case .flatten:
                builder.node("Flatten", inputs, output, name: "flatten\(node.output)", attributes: [.int("axis", 1)])
            case .linear(let linear):
                var nodeInputs = [inputs[0], builder.initializer(linear.weight.name, linear.weight.values, linear.weight.shape)]
                if let bias = linear.bias { nodeInputs.append(builder.initializer(bias.name, bias.values, bias.shape)) }
                builder.node("Gemm", nodeInputs, output, name: linear.name, attributes: [.int("transB", 1)])
            }
            names[node.output] = output
        }
        guard let embedding = lastLinear(in: graph)?.weight.shape[0] else {
            throw ONNXError(file: "<export>", problem: "the backbone's graph has no embedding layer")
        }
        builder.graph.name = "haarface"
        builder.graph.input = [valueInfo(inputName, dims: [nil, 3, imageSize, imageSize])]
        builder.graph.output = [valueInfo(outputName, dims: [nil, embedding])]
        var model = Onnx_ModelProto()
        model.irVersion = irVersion
        model.producerName = "haarface"
        model.graph = builder.graph
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Self.opset
        model.opsetImport = [opset]
        model.metadataProps = metadata.sorted { $0.key < $1.key }.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        return try model.serializedData()
    }

    private static func lastLinear(in graph: LayerGraph) -> Linear? {
        for node in graph.nodes.reversed() { if case .linear(let linear) = node.operation { return linear } }
        return nil
    }

    /// A float32 tensor's description; nil dimensions are the dynamic batch.
    private static func valueInfo(_ name: String, dims: [Int?]) -> Onnx_ValueInfoProto {
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.shape.dim = dims.map { size in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let size { dim.dimValue = Int64(size) } else { dim.dimParam = "batch" }
            return dim
        }
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type.tensorType = tensor
        return info
    }
}

/// A batch norm in evaluation mode folded into the convolution (or linear layer) before it:
/// w' = w * gamma / sqrt(var + eps) per output channel, b' = (b - mean) * gamma / sqrt(var + eps) + beta.
enum BatchNormFolding {
    static func fold(weight: [Float], bias: [Float]?, into norm: BatchNorm) -> (weight: [Float], bias: [Float]) {
        let channels = norm.weight.shape[0]
        let perChannel = weight.count / channels
        let gamma = norm.weight.values, beta = norm.bias.values
        let mean = norm.runningMean.values, variance = norm.runningVar.values
        var foldedWeight = weight
        var foldedBias = [Float](repeating: 0, count: channels)
        for channel in 0..<channels {
            let scale = Double(gamma[channel]) / (Double(variance[channel]) + Double(norm.epsilon)).squareRoot()
            for index in channel * perChannel..<(channel + 1) * perChannel {
                foldedWeight[index] = Float(Double(weight[index]) * scale)
            }
            foldedBias[channel] = Float((Double(bias?[channel] ?? 0) - Double(mean[channel])) * scale + Double(beta[channel]))
        }
        return (foldedWeight, foldedBias)
    }
}

/// Builds a GraphProto node by node.
struct GraphBuilder {
    var graph = Onnx_GraphProto()

    /// Adds a float32 initializer (little-endian raw data, as ONNX stores it) and returns its name.
    mutating func initializer(_ name: String, _ values: [Float], _ shape: [Int]) -> String {
        precondition(values.count == shape.reduce(1, *), "\(name): \(values.count) values for shape \(shape)")
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dims = shape.map(Int64.init)
        tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.rawData = values.withUnsafeBufferPointer { Data(buffer: $0) }   // x86-64 and arm64 are little-endian
        graph.initializer.append(tensor)
        return name
    }

    mutating func node(_ opType: String, _ inputs: [String], _ output: String, name: String,
                       attributes: [Onnx_AttributeProto] = []) {
        var node = Onnx_NodeProto()
        node.opType = opType
        node.name = name
        node.input = inputs
        node.output = [output]
        node.attribute = attributes
        graph.node.append(node)
    }
}

extension Onnx_AttributeProto {
    static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .ints
        attribute.ints = values.map(Int64.init)
        return attribute
    }

    static func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .int
        attribute.i = Int64(value)
        return attribute
    }

    static func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .float
        attribute.f = value
        return attribute
    }
}

/// A file that is not an ONNX model HaarFace can read, naming the file and what is wrong.
public struct ONNXError: Error, CustomStringConvertible {
    public let file: String
    public let problem: String

    public init(file: String, problem: String) {
        self.file = file
        self.problem = problem
    }

    public var description: String { "\(file): \(problem)" }
}
