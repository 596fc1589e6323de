import XCTest
@testable import Engine

/// The buffer pool's bound (live + pooled bytes never above the most ever live at once) and its reuse
/// (a repeated allocation pattern, as in a training step, is served from the pool).
final class BufferPoolTests: XCTestCase {
    /// One "step": sizes allocated and freed in a pattern where sizes differ between phases.
    func step(_ pool: BufferPool, check: (BufferPool) -> Void) {
        let mib = 1 << 20
        var held: [(UnsafeMutableRawPointer, Int)] = []
        for size in [8 * mib, 8 * mib, 3 * mib, 64 * 1024, 5 * mib] {      // "forward": all kept
            held.append(pool.take(size)); check(pool)
        }
        for index in [4, 2] { let (p, s) = held[index]; pool.give(p, size: s); check(pool) }
        for size in [4 * mib, 2 * mib, 9 * mib] {                            // "backward": other sizes
            let (p, s) = pool.take(size); check(pool); pool.give(p, size: s); check(pool)
        }
        for (index, (p, s)) in held.enumerated() where index != 4 && index != 2 { pool.give(p, size: s); check(pool) }
    }

    func testFootprintStaysAtPeakLiveAndRepeatedStepsReuse() {
        let pool = BufferPool()
        defer { pool.drain() }
        let bound: (BufferPool) -> Void = { pool in
            XCTAssertLessThanOrEqual(pool.liveBytes + pool.pooledBytes, pool.peakLiveBytes)
        }
        step(pool, check: bound)
        XCTAssertEqual(pool.peakLiveBytes, 25 * (1 << 20) + 64 * 1024,
                       "the 9 MiB request while 8 + 8 MiB and 64 KiB are held")
        step(pool, check: bound)
        step(pool, check: bound)
        XCTAssertEqual(pool.liveBytes, 0)
    }

    /// Steps that keep everything they take until the end (a forward pass whose activations are all saved
    /// for backward) are served from the pool after the first one.
    func testRepeatedStepsAreServedFromThePool() {
        let pool = BufferPool()
        defer { pool.drain() }
        let sizes = [12 << 20, 12 << 20, 3 << 20, 3 << 20, 1 << 20, 256 * 1024]
        func step() {
            let taken = sizes.map { pool.take($0) }
            for (pointer, size) in taken.reversed() { pool.give(pointer, size: size) }
        }
        step()
        let afterFirst = pool.allocatedBytes
        for _ in 0..<3 { step() }
        XCTAssertEqual(pool.allocatedBytes, afterFirst)
        XCTAssertEqual(pool.peakLiveBytes, sizes.reduce(0, +))
        XCTAssertEqual(pool.pooledBytes, pool.peakLiveBytes)
    }

    /// A buffer handed out for a smaller request is at least as large as asked, and its real size is
    /// what comes back to the pool.
    func testLargerPooledBufferServesSmallerRequest() {
        let pool = BufferPool()
        defer { pool.drain() }
        let (p, s) = pool.take(6 << 20)
        pool.give(p, size: s)
        let (q, t) = pool.take(4 << 20)
        XCTAssertEqual(q, p)
        XCTAssertEqual(t, 6 << 20)
        pool.give(q, size: t)
        XCTAssertEqual(pool.allocatedBytes, 6 << 20)
    }
}
