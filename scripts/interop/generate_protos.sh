#!/usr/bin/env bash
# Regenerates the committed Swift for the two protobuf formats HaarFace writes and reads, so that no build
# needs protoc or swift-protobuf's plugin (whose first build takes minutes):
#   Sources/ONNX/Generated/onnx.pb.swift         from Debian's libonnx-dev: /usr/include/onnx/onnx.proto
#   Sources/TensorBoard/Generated/event.pb.swift from Sources/TensorBoard/event.proto (the subset we write)
# Needs protoc (Debian's protobuf-compiler) and protoc-gen-swift built from swift-protobuf at the version
# Package.swift names: PROTOC_GEN_SWIFT=/path/to/protoc-gen-swift scripts/interop/generate_protos.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
plugin="${PROTOC_GEN_SWIFT:?set PROTOC_GEN_SWIFT to a protoc-gen-swift binary (swift-protobuf 1.39)}"
onnx_proto=/usr/include/onnx/onnx.proto
[ -f "$onnx_proto" ] || { echo "$onnx_proto is missing: apt-get install libonnx-dev" >&2; exit 1; }
protoc --plugin=protoc-gen-swift="$plugin" -I /usr/include/onnx --swift_out=Sources/ONNX/Generated onnx.proto
protoc --plugin=protoc-gen-swift="$plugin" -I Sources/TensorBoard --swift_out=Sources/TensorBoard/Generated event.proto
