// Throughput of the MHLR schedulers: ns per `step(loss:)`.
// Run: swift run -c release MHLRBenchmark [steps] [repetitions]
// Each scheduler is first checked against step numbers derived from mhlr.md, then timed on a noisy
// decaying loss signal; the median over repetitions is reported, and every LR is summed into a checksum
// that is printed, so the optimiser cannot drop the work.
import Foundation
import MHLR

let arguments = CommandLine.arguments
let stepsPerRun = arguments.count > 1 ? Int(arguments[1]) ?? 10_000_000 : 10_000_000
let repetitions = arguments.count > 2 ? Int(arguments[2]) ?? 5 : 5

/// Losses that fall with noise and restart every 50k steps, so the detectors take real decisions.
func makeLosses(count: Int) -> [Double] {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    var losses = [Double](repeating: 0, count: count)
    for index in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        let noise = Double(state >> 11) / Double(1 << 53) - 0.5
        let phase = Double(index % 50_000)
        losses[index] = 2 + 20 * (1 / (1 + phase / 2_000)) + 0.5 * noise
    }
    return losses
}

/// The 1-based steps at which a scheduler's LR changed while fed `loss` for `steps` steps.
func changeSteps<S: LearningRateScheduler>(_ scheduler: S, loss: Double, steps: Int) -> [Int] {
    var recorder = ScheduleRecorder(scheduler)
    for _ in 0..<steps { recorder.step(loss: loss) }
    return recorder.events.map(\.step)
}

func check(_ name: String, _ got: [Int], _ expected: [Int]) {
    guard got == expected else {
        print("FAILED correctness check \(name): events at \(got), expected \(expected)")
        exit(1)
    }
    print("check \(name): LR changes at steps \(got) as derived")
}

/// CPU time of the calling thread, in ns: on a shared machine this leaves out the time the thread waits
/// for a core, which wall-clock time would count.
func threadCPUTimeNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Median ns per step (thread CPU time, and wall clock) over `repetitions` runs of `stepsPerRun` steps,
/// each on a fresh scheduler.
func time<S: LearningRateScheduler>(_ name: String, _ make: () -> S, losses: [Double]) {
    let mask = losses.count - 1
    var cpuTimings: [Double] = []
    var wallTimings: [Double] = []
    var checksum = 0.0
    for _ in 0..<repetitions {
        var scheduler = make()
        var sum = 0.0
        let wallStart = DispatchTime.now().uptimeNanoseconds
        let cpuStart = threadCPUTimeNanoseconds()
        // A plain loop (no closure capturing the scheduler, which would box it).
        for index in 0..<stepsPerRun { sum += scheduler.step(loss: losses[index & mask]) }
        let cpu = threadCPUTimeNanoseconds() - cpuStart
        let wall = DispatchTime.now().uptimeNanoseconds - wallStart
        cpuTimings.append(Double(cpu) / Double(stepsPerRun))
        wallTimings.append(Double(wall) / Double(stepsPerRun))
        checksum += sum
    }
    func median(_ values: [Double]) -> String {
        let sorted = values.sorted()
        return String(Double(Int(sorted[sorted.count / 2] * 10)) / 10)
    }
    let shown = cpuTimings.map { String(Double(Int($0 * 10)) / 10) }.joined(separator: " ")
    print("\(name): median \(median(cpuTimings)) ns/step CPU, \(median(wallTimings)) wall"
        + "  (CPU per repetition: \(shown))  checksum \(checksum)")
}

// Correctness first. Constant loss: every Haar response is 0 < lambda from 0-based i = 2m; the count
// exceeds P = 2m at i = 4m, so the first decay applies from step 4m + 2; each later one P + 1 steps on;
// the 4th is a restart (R = 3).
let window = 4000
let mhlr = try MHLR(baseLR: 0.02, configuration: .init(windowSteps: window))
check("MHLR m=4000", changeSteps(mhlr, loss: 1, steps: 40_010),
      [16_002, 24_003, 32_004, 40_005])
// FastFace, constant loss: E_t = 0 < lambda from t = 2; K = floor(0.05 * 1000) = 50, so the count reaches K
// at t = 52 and the decay applies from step 53, then every K + 1 = 51 steps, 8 times at most.
let fastFace = try FastFace(baseLR: 0.02, configuration: .init(totalSteps: 1_000))
check("FastFace T=1000", changeSteps(fastFace, loss: 1, steps: 1_000),
      (0..<8).map { 53 + 51 * $0 })

let losses = makeLosses(count: 1 << 20)
print("timing \(stepsPerRun) steps x \(repetitions) repetitions")
time("ConstantLR (loop overhead)", { try! ConstantLR(baseLR: 0.02) }, losses: losses)
time("MHLR box m=4000", { try! MHLR(baseLR: 0.02, configuration: .init(windowSteps: window)) }, losses: losses)
time("MHLR exponential(0.001) m=4000", {
    try! MHLR(baseLR: 0.02, configuration: .init(windowSteps: window, smoothing: .exponential(alpha: 1e-3)))
}, losses: losses)
time("AnyScheduler.mhlr box m=4000", {
    AnyScheduler.mhlr(try! MHLR(baseLR: 0.02, configuration: .init(windowSteps: window)))
}, losses: losses)
time("FastFace T=10^7", { try! FastFace(baseLR: 0.02, configuration: .init(totalSteps: 10_000_000)) }, losses: losses)
