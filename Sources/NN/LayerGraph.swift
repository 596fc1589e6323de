// A backbone's inference computation as a graph of its layers: what ONNX export writes and ONNX import matches
// a file against. Each backbone traces itself next to its forward pass (`GraphTraceable`), and
// `LayerGraph.evaluate` runs the traced graph with the same modules, so a test can hold the two to each other.
import Engine

/// One backbone's evaluation-mode forward pass: nodes in execution order, each reading earlier values by
/// number (value 0 is the input images) and producing one new value. Dropout is left out (the identity when
/// evaluating).
public struct LayerGraph {
    public enum Operation {
        case convolution(Conv2d)
        case batchNorm(BatchNorm)
        case prelu(PReLU)
        /// Elementwise sum of the node's two inputs (a residual connection).
        case add
        /// [N, C, H, W] -> [N, C*H*W].
        case flatten
        case linear(Linear)

        /// The module whose state this operation holds (nil for add and flatten).
        public var module: Module? {
            switch self {
            case .convolution(let conv): return conv
            case .batchNorm(let norm): return norm
            case .prelu(let prelu): return prelu
            case .linear(let linear): return linear
            case .add, .flatten: return nil
            }
        }
    }

    public struct Node {
        public let operation: Operation
        public let inputs: [Int]
        public let output: Int
    }

    /// The images' value.
    public static let input = 0
    public private(set) var nodes: [Node] = []
    /// The value the graph ends with (the embedding once tracing is done).
    public private(set) var output = LayerGraph.input

    public init() {}

    /// The graph of `backbone`; an error for a model that cannot trace itself.
    public init(tracing backbone: Module) throws {
        guard let traceable = backbone as? GraphTraceable else {
            throw NNError("\(type(of: backbone)) cannot describe itself as a graph (only IResNet and MobileFaceNet do)")
        }
        output = traceable.trace(LayerGraph.input, into: &self)
    }

    /// Appends a node reading `inputs` and returns its value.
    public mutating func append(_ operation: Operation, _ inputs: Int...) -> Int {
        let value = (nodes.last?.output ?? LayerGraph.input) + 1
        nodes.append(Node(operation: operation, inputs: inputs, output: value))
        return value
    }

    /// The nodes that read `value`.
    public func consumers(of value: Int) -> [Node] {
        nodes.filter { $0.inputs.contains(value) }
    }

    /// Runs the graph on `images` with its modules (as they are: put the model in evaluation mode first).
    public func evaluate(_ images: Tensor) throws -> Tensor {
        var values = [LayerGraph.input: images]
        for node in nodes {
            let inputs = node.inputs.map { values[$0]! }
            switch node.operation {
            case .convolution(let conv): values[node.output] = try conv(inputs[0])
            case .batchNorm(let norm): values[node.output] = try norm(inputs[0])
            case .prelu(let prelu): values[node.output] = try prelu(inputs[0])
            case .add: values[node.output] = try add(inputs[0], inputs[1])
            case .flatten: values[node.output] = try inputs[0].flattened()
            case .linear(let linear): values[node.output] = try linear(inputs[0])
            }
        }
        return values[output]!
    }
}

/// A module that can append its evaluation-mode forward pass to a `LayerGraph`.
public protocol GraphTraceable {
    /// Appends this module's nodes reading `input`; returns the value it produces.
    func trace(_ input: Int, into graph: inout LayerGraph) -> Int
}

extension IBasicBlock: GraphTraceable {
    public func trace(_ input: Int, into graph: inout LayerGraph) -> Int {
        var x = graph.append(.batchNorm(bn1), input)
        x = graph.append(.convolution(conv1), x)
        x = graph.append(.batchNorm(bn2), x)
        x = graph.append(.prelu(prelu), x)
        x = graph.append(.convolution(conv2), x)
        x = graph.append(.batchNorm(bn3), x)
        var shortcut = input
        if let downsample {
            shortcut = graph.append(.convolution(downsample.conv), input)
            shortcut = graph.append(.batchNorm(downsample.bn), shortcut)
        }
        return graph.append(.add, x, shortcut)
    }
}

extension IResNet: GraphTraceable {
    public func trace(_ input: Int, into graph: inout LayerGraph) -> Int {
        var x = graph.append(.convolution(conv1), input)
        x = graph.append(.batchNorm(bn1), x)
        x = graph.append(.prelu(prelu), x)
        for block in stages.joined() { x = block.trace(x, into: &graph) }
        x = graph.append(.batchNorm(bn2), x)
        x = graph.append(.flatten, x)
        x = graph.append(.linear(fc), x)
        return graph.append(.batchNorm(features), x)
    }
}

extension ConvBlock: GraphTraceable {
    public func trace(_ input: Int, into graph: inout LayerGraph) -> Int {
        let x = graph.append(.batchNorm(bn), graph.append(.convolution(conv), input))
        return prelu.map { graph.append(.prelu($0), x) } ?? x
    }
}

extension DepthWise: GraphTraceable {
    public func trace(_ input: Int, into graph: inout LayerGraph) -> Int {
        let output = project.trace(depthwise.trace(expand.trace(input, into: &graph), into: &graph), into: &graph)
        return residual ? graph.append(.add, input, output) : output
    }
}

extension Residual: GraphTraceable {
    public func trace(_ input: Int, into graph: inout LayerGraph) -> Int {
        blocks.reduce(input) { $1.trace($0, into: &graph) }
    }
}

extension MobileFaceNet: GraphTraceable {
    public func trace(_ input: Int, into graph: inout LayerGraph) -> Int {
        var x = input
        for layer in body {
            // The body holds only ConvBlock, DepthWise and Residual, all traceable.
            x = (layer as! GraphTraceable).trace(x, into: &graph)
        }
        x = gdc.trace(convSep.trace(x, into: &graph), into: &graph)
        x = graph.append(.flatten, x)
        x = graph.append(.linear(linear), x)
        return graph.append(.batchNorm(features), x)
    }
}
