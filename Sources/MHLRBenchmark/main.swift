// Throughput of the MHLR schedulers: ns per `step(loss:)`.
// Run: swift run -c release MHLRBenchmark [steps] [repetitions] [name filter]
// Each scheduler is first checked against step numbers derived from mhlr.md, then timed on a noisy
// decaying loss signal; the median over repetitions is reported, and every LR is summed into a checksum
// that is printed, so the optimiser cannot drop the work.
import Foundation
import MHLR

let arguments = CommandLine.arguments
let stepsPerRun = arguments.count > 1 ? Int(arguments[1]) ?? 10_000_000 : 10_000_000
let repetitions = arguments.count > 2 ? Int(arguments[2]) ?? 5 : 5
/// Only the timings whose name contains this (e.g. "FastFace"); all when absent.
let only = arguments.count > 3 ? arguments[3] : nil

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
    if let only, !name.contains(only) { return }
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

/// The released algorithm's cost model: both Haar sums and the box average recomputed from the window
/// every step (O(m)), written from mhlr.md section 1. Timed only to report the O(1) speed-up as a ratio.
struct RecomputingHaar {
    let windowSteps: Int
    let threshold: Double
    var losses: [Double] = []
    var averages: [Double] = []
    var count = 0
    var learningRate = 0.02

    mutating func step(loss: Double) -> Double {
        let m = windowSteps
        let i = losses.count
        losses.append(loss)
        guard i >= m else { return learningRate }
        var sum = 0.0
        for k in (i - m + 1)...i { sum += losses[k] }
        averages.append(sum / Double(m))  // averages[k - m] = A_k
        guard i >= 2 * m else { return learningRate }
        var older = 0.0
        for k in (i - m)..<(i - m + m / 2) { older += averages[k - m] }
        var newer = 0.0
        for k in (i - m + m / 2)..<i { newer += averages[k - m] }
        if (older - newer) / Double(m) < threshold {
            count += 1
            if count > 2 * m { count = 0; learningRate /= 2 }
        } else {
            count = 0
        }
        return learningRate
    }
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
time("ScheduleRecorder<AnyScheduler>.mhlr box m=4000", {
    ScheduleRecorder(AnyScheduler.mhlr(try! MHLR(baseLR: 0.02, configuration: .init(windowSteps: window))))
}, losses: losses)
time("FastFace T=10^7", { try! FastFace(baseLR: 0.02, configuration: .init(totalSteps: 10_000_000)) }, losses: losses)

// The O(m) recomputation, after its 2m-step start, on the same losses: ns per step and the ratio.
if only == nil || "O(m) recomputation".contains(only!) {
    var naive = RecomputingHaar(windowSteps: window, threshold: 0.06)
    var fast = try MHLR(baseLR: 0.02, configuration: .init(windowSteps: window, restartAfter: nil))
    for index in 0..<(2 * window) {
        _ = naive.step(loss: losses[index])
        _ = fast.step(loss: losses[index])
    }
    let timedSteps = 20_000
    var sum = 0.0
    let cpuStart = threadCPUTimeNanoseconds()
    for index in (2 * window)..<(2 * window + timedSteps) { sum += naive.step(loss: losses[index]) }
    let naiveNs = Double(threadCPUTimeNanoseconds() - cpuStart) / Double(timedSteps)
    var fastSum = 0.0
    let fastStart = threadCPUTimeNanoseconds()
    for index in (2 * window)..<(2 * window + timedSteps) { fastSum += fast.step(loss: losses[index]) }
    let fastNs = Double(threadCPUTimeNanoseconds() - fastStart) / Double(timedSteps)
    guard sum == fastSum else {
        print("FAILED: O(m) recomputation and MHLR disagree (LR sums \(sum) vs \(fastSum))")
        exit(1)
    }
    print("O(m) recomputation m=4000 (released algorithm's cost): \(Int(naiveNs)) ns/step CPU over \(timedSteps) steps;"
        + " MHLR on the same steps \(Double(Int(fastNs * 10)) / 10) ns/step; ratio \(Int(naiveNs / fastNs))x")
}
