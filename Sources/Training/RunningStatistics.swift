import Engine
import NN

/// The running statistics that a forward pass in training mode moves (batch norm's running means and variances
/// and its batch counts), kept before each step: a step skipped for a non-finite loss has already folded its
/// batch into them by then, NaN included, and restoring them makes the skipped step leave the model as it was.
struct RunningStatistics {
    private let buffers: [(buffer: Buffer, values: [Float])]
    private let counters: [(counter: BatchCounter, value: Int64)]

    init(of module: Module) {
        var buffers: [(Buffer, [Float])] = [], counters: [(BatchCounter, Int64)] = []
        for entry in module.state {
            switch entry {
            case .buffer(let buffer): buffers.append((buffer, buffer.values))
            case .counter(let counter): counters.append((counter, counter.value))
            case .parameter: break
            }
        }
        self.buffers = buffers
        self.counters = counters
    }

    func restore() {
        for (buffer, values) in buffers { buffer.values = values }
        for (counter, value) in counters { counter.value = value }
    }
}
