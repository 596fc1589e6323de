// TensorBoard event files (placeholder while the writer is built).
import SwiftProtobuf
