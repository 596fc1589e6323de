// Micro-benchmark of the Engine's kernels on IResNet shapes (not a test): one 3x3 convolution's forward,
// backward-data and backward-weights in GFLOP/s, and one IBasicBlock's training step (forward + backward).
// Usage: swift run -c release engine-bench [batch] [channels] [size] [repeats] [bf16] [direct]
//        (float32 3x3 convolutions use Winograd unless `direct` is given: compare the two runs)
//        swift run -c release engine-bench trunk [batch] [size] [steps] [bf16]   (an IResNet-18 training step)
import Engine
import Foundation

if CommandLine.arguments.dropFirst().first == "trunk" {
    let numbers = CommandLine.arguments.dropFirst(2).compactMap { Int($0) }
    try runTrunk(batch: numbers.count > 0 ? numbers[0] : 8, size: numbers.count > 1 ? numbers[1] : 112,
                 steps: numbers.count > 2 ? numbers[2] : 3,
                 dtype: CommandLine.arguments.contains("bf16") ? .bfloat16 : .float32)
    exit(0)
}

if CommandLine.arguments.dropFirst().first == "mbf" {
    // MobileFaceNet's unusual convolutions, forward + backward once each; run with DNNL_VERBOSE=1 to see
    // the kernels oneDNN picks for them.
    let shapes: [(input: [Int], weight: [Int], stride: Int, padding: Int, groups: Int)] = [
        ([4, 3, 112, 112], [128, 3, 3, 3], 2, 1, 1),
        ([4, 128, 56, 56], [128, 2, 3, 3], 1, 1, 64),
        ([4, 128, 56, 56], [128, 128, 1, 1], 1, 0, 1),
        ([4, 128, 56, 56], [128, 1, 3, 3], 2, 1, 128),
        ([4, 256, 14, 14], [512, 256, 1, 1], 1, 0, 1),
        ([4, 512, 7, 7], [512, 1, 7, 7], 1, 0, 512),
    ]
    for shape in shapes {
        let x = Tensor(shape: shape.input, repeating: 0.5, requiresGrad: shape.input[1] != 3)
        let w = Tensor(shape: shape.weight, repeating: 0.01, requiresGrad: true)
        for _ in 0..<2 {
            let start = DispatchTime.now().uptimeNanoseconds
            let y = try conv2d(x, weight: w, stride: shape.stride, padding: shape.padding, groups: shape.groups)
            try y.backward(gradient: y)
            print("conv \(shape.input) weight \(shape.weight) groups \(shape.groups): fwd+bwd",
                  String(format: "%.1f ms", Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6))
        }
    }
    exit(0)
}

if CommandLine.arguments.contains("direct") { ConvolutionAlgorithm.current = .direct }
let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let batch = arguments.count > 0 ? arguments[0] : 32
let channels = arguments.count > 1 ? arguments[1] : 64
let size = arguments.count > 2 ? arguments[2] : 56
let repeats = arguments.count > 3 ? arguments[3] : 5

/// Wall seconds, or with ENGINE_BENCH_CPU_TIME=1 the process's CPU seconds: on a machine shared with
/// other jobs, the CPU time of a single-threaded run (OMP_NUM_THREADS=1) approximates its uncontended
/// time, where wall time measures the machine's load.
let useCPUTime = ProcessInfo.processInfo.environment["ENGINE_BENCH_CPU_TIME"] != nil
func clockSeconds() -> Double {
    var time = timespec()
    clock_gettime(useCPUTime ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = clockSeconds()
    try body()
    return clockSeconds() - start
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

var generator = SystemRandomNumberGenerator()
func randomValues(_ count: Int, scale: Float) -> [Float] {
    (0..<count).map { _ in Float.random(in: -scale...scale, using: &generator) }
}

let inputShape = [batch, channels, size, size]
let input = Tensor(shape: inputShape, values: randomValues(inputShape.reduce(1, *), scale: 1))
// Bring the input into the blocked layout the trunk uses (a 1x1 conv), as a real activation would be.
let toBlocked = Tensor(shape: [channels, channels, 1, 1],
                       values: (0..<(channels * channels)).map { $0 % (channels + 1) == 0 ? 1 : 0 })
let benchDType: DType = CommandLine.arguments.contains("bf16") ? .bfloat16 : .float32
let x = try conv2d(input.converted(to: benchDType), weight: toBlocked)
let conv1 = Parameter(name: "conv1.weight", shape: [channels, channels, 3, 3],
                      values: randomValues(channels * channels * 9, scale: 0.05))
let flops = 2.0 * Double(batch * channels * channels * 9 * size * size)

// Convolution alone: forward (no grad), then forward + backward-data + backward-weights.
var forwardTimes: [Double] = [], trainTimes: [Double] = []
let xWithGrad = x.detached(requiresGrad: true)
for _ in 0..<(repeats + 1) {
    forwardTimes.append(try seconds { _ = try conv2d(x, weight: conv1.tensor, padding: 1) })
    trainTimes.append(try seconds {
        let y = try conv2d(xWithGrad, weight: conv1.tensor, padding: 1)
        try y.backward(gradient: y)
    })
}
forwardTimes.removeFirst(); trainTimes.removeFirst()
let forward = median(forwardTimes), train = median(trainTimes)
print("\(benchDType) \(ConvolutionAlgorithm.current):", String(format: "conv3x3 N%d %d->%d @%d: forward %.1f ms (%.0f GFLOP/s); fwd+bwd-data+bwd-weights %.1f ms (%.0f GFLOP/s)",
             batch, channels, channels, size, forward * 1e3, flops / forward / 1e9, train * 1e3, 3 * flops / train / 1e9))

// One IBasicBlock (stride 1, identity shortcut) forward + backward in training mode.
func bnParameters(_ prefix: String) -> (Parameter, Parameter, Buffer, Buffer) {
    (Parameter(name: prefix + ".weight", shape: [channels], values: Array(repeating: 1, count: channels)),
     Parameter(name: prefix + ".bias", shape: [channels], values: Array(repeating: 0, count: channels)),
     Buffer(name: prefix + ".running_mean", shape: [channels], values: Array(repeating: 0, count: channels)),
     Buffer(name: prefix + ".running_var", shape: [channels], values: Array(repeating: 1, count: channels)))
}
let bn1 = bnParameters("bn1"), bn2 = bnParameters("bn2"), bn3 = bnParameters("bn3")
let conv2 = Parameter(name: "conv2.weight", shape: [channels, channels, 3, 3],
                      values: randomValues(channels * channels * 9, scale: 0.05))
let slope = Parameter(name: "prelu.weight", shape: [channels], values: Array(repeating: 0.25, count: channels))
func bn(_ t: Tensor, _ p: (Parameter, Parameter, Buffer, Buffer)) throws -> Tensor {
    try batchNorm(t, weight: p.0.tensor, bias: p.1.tensor, runningMean: p.2, runningVar: p.3, training: true)
}
var blockTimes: [Double] = []
for _ in 0..<(repeats + 1) {
    blockTimes.append(try seconds {
        var out = try bn(xWithGrad, bn1)
        out = try conv2d(out, weight: conv1.tensor, padding: 1)
        out = try bn(out, bn2)
        out = try prelu(out, weight: slope.tensor)
        out = try conv2d(out, weight: conv2.tensor, padding: 1)
        out = try bn(out, bn3)
        let y = try out + xWithGrad
        try y.backward(gradient: y)
    })
}
blockTimes.removeFirst()
let block = median(blockTimes)
print(String(format: "IBasicBlock N%d %d@%d fwd+bwd: %.1f ms (convs alone: %.1f ms, %.0f%% of the block)",
             batch, channels, size, block * 1e3, 2 * train * 1e3, 200 * train / block))
