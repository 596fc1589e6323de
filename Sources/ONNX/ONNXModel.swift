// ONNX graphs of the backbones (placeholder while the exporter is built).
import SwiftProtobuf
