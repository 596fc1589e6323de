// A module's state as safetensors with PyTorch's keys: the file loads into insightface's PyTorch model with
// load_state_dict (through any safetensors reader), and a PyTorch state_dict saved as safetensors loads here.
import Foundation
import Engine

/// The element type that floating-point state is saved in (counters are always I64).
public enum CheckpointPrecision: Sendable {
    case float32
    /// bfloat16, rounded to nearest even: half the size, for exported weights.
    case bfloat16
}

extension Module {
    /// Every state entry as a named safetensors tensor: parameters and buffers as F32 (or BF16),
    /// num_batches_tracked as an I64 scalar.
    public func stateTensors(precision: CheckpointPrecision = .float32, metadata: [String: String] = [:]) -> SafeTensors {
        var file = SafeTensors(metadata: metadata)
        for entry in state {
            let values: [Float]
            switch entry {
            case .parameter(let parameter): values = parameter.values
            case .buffer(let buffer): values = buffer.values
            case .counter(let counter):
                file[counter.name] = SafeTensor(int64: [counter.value], shape: [])
                continue
            }
            file[entry.name] = precision == .float32 ? SafeTensor(float32: values, shape: entry.shape)
                                                     : SafeTensor(bfloat16: values, shape: entry.shape)
        }
        return file
    }

    /// Writes the state to a safetensors file.
    public func saveState(to url: URL, precision: CheckpointPrecision = .float32, metadata: [String: String] = [:]) throws {
        try stateTensors(precision: precision, metadata: metadata).write(to: url)
    }

    /// Loads every state entry from `file`, which must hold exactly this module's keys (with `prefix`
    /// prepended, e.g. "backbone."), each with the right shape; floating-point state may be F32 or BF16,
    /// num_batches_tracked must be I64. Nothing is changed when anything is wrong; `source` names the file in errors.
    public func loadState(from file: SafeTensors, prefix: String = "", source: String = "<memory>") throws {
        let entries = state
        let expected = Set(entries.map { prefix + $0.name })
        let unexpected = file.tensors.keys.filter { !expected.contains($0) && (prefix.isEmpty || $0.hasPrefix(prefix)) }.sorted()
        let missing = entries.map { prefix + $0.name }.filter { file[$0] == nil }
        if !missing.isEmpty || !unexpected.isEmpty {
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing keys \(missing.prefix(5).joined(separator: ", "))\(missing.count > 5 ? " (\(missing.count) in all)" : "")") }
            if !unexpected.isEmpty { parts.append("unexpected keys \(unexpected.prefix(5).joined(separator: ", "))\(unexpected.count > 5 ? " (\(unexpected.count) in all)" : "")") }
            throw SafeTensorsError(file: source, problem: "does not match the model: " + parts.joined(separator: "; ")
                                   + ". Hint: was it saved from a different model or depth?")
        }
        // Check everything before changing anything.
        for entry in entries {
            let key = prefix + entry.name
            let tensor = file[key]!
            guard tensor.shape == entry.shape else {
                throw SafeTensorsError(file: source, tensor: key, problem: "has shape \(tensor.shape), the model expects \(entry.shape)")
            }
            if case .counter = entry {
                guard tensor.dtype == .int64 else {
                    throw SafeTensorsError(file: source, tensor: key, problem: "has dtype \(tensor.dtype.rawValue), expected I64")
                }
            } else {
                guard tensor.dtype == .float32 || tensor.dtype == .bfloat16 else {
                    throw SafeTensorsError(file: source, tensor: key, problem: "has dtype \(tensor.dtype.rawValue), expected F32 or BF16")
                }
            }
        }
        for entry in entries {
            let tensor = file[prefix + entry.name]!
            switch entry {
            case .parameter(let parameter): parameter.values = tensor.floats()
            case .buffer(let buffer): buffer.values = tensor.floats()
            case .counter(let counter): counter.value = tensor.int64s()[0]
            }
        }
    }

    /// Reads a safetensors file and loads it (see `loadState(from:prefix:source:)`).
    public func loadState(contentsOf url: URL, prefix: String = "") throws {
        try loadState(from: SafeTensors.read(contentsOf: url), prefix: prefix, source: url.path)
    }
}
