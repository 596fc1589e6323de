// 64-byte-aligned buffers for tensors, recycled through a size-keyed pool: a training step allocates
// the same sizes every iteration, and reusing them avoids page-faulting fresh mappings each time.
import Foundation

/// An owned, 64-byte-aligned block of memory (oneDNN's DNNL_MEMORY_ALLOCATE is a macro Swift can't use).
final class Storage {
    let pointer: UnsafeMutableRawPointer
    let byteCount: Int

    /// A buffer of at least `byteCount` bytes, contents undefined unless `zeroed`.
    init(byteCount: Int, zeroed: Bool = false) {
        (pointer, self.byteCount) = BufferPool.shared.take(BufferPool.roundedSize(max(byteCount, 64)))
        if zeroed { memset(pointer, 0, self.byteCount) }
    }

    deinit { BufferPool.shared.give(pointer, size: byteCount) }

    func floats(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        precondition(count * 4 <= byteCount)
        return UnsafeMutableBufferPointer(start: pointer.assumingMemoryBound(to: Float.self), count: count)
    }
}

/// Freed buffers kept for reuse (same size first, else the smallest under twice the size), with a bound that keeps the process's footprint at its
/// high-water mark of live tensors: pooled buffers are released (oldest first) when keeping them would
/// push live + pooled bytes above the most ever live at once. A pool that kept every size it has seen
/// would hold each size at its own maximum: for an IResNet-18 training step (batch 32, 112 px) that is
/// 300 MB more than PyTorch's peak, where this bound keeps ours 300 MB below it; about 650 MB of the
/// step's buffers then come fresh from the system each step, which costs no measurable time.
final class BufferPool: @unchecked Sendable {
    static let shared = BufferPool()

    /// Pooled buffers in the order they were given back (oldest first, the first evicted). A few hundred
    /// in a training step: a linear search costs microseconds against a step's seconds.
    private var pooled: [(pointer: UnsafeMutableRawPointer, size: Int)] = []
    private(set) var pooledBytes = 0
    /// Bytes handed out and not yet given back, and the most ever at once.
    private(set) var liveBytes = 0
    private(set) var peakLiveBytes = 0
    /// Bytes obtained from the system so far (a measure of how often the pool missed).
    private(set) var allocatedBytes = 0
    fileprivate let lock = NSLock()

    /// Sizes round up to 4 KiB above 64 KiB (so similar shapes share buffers), to 64 bytes below.
    static func roundedSize(_ size: Int) -> Int {
        let granule = size > 65536 ? 4096 : 64
        return (size + granule - 1) / granule * granule
    }

    /// A buffer of at least `size` bytes (a rounded size) and its actual size: a pooled one of exactly
    /// that size, else the smallest pooled one less than twice as large, else a new one.
    func take(_ size: Int) -> (UnsafeMutableRawPointer, Int) {
        lock.lock()
        defer { lock.unlock() }
        let exact = pooled.lastIndex { $0.size == size }
        let fit = exact ?? pooled.indices.filter { pooled[$0].size > size && pooled[$0].size < 2 * size }
            .min { pooled[$0].size < pooled[$1].size }
        if let fit {
            let (pointer, fitSize) = pooled.remove(at: fit)
            pooledBytes -= fitSize
            liveBytes += fitSize
            peakLiveBytes = max(peakLiveBytes, liveBytes)
            return (pointer, fitSize)
        }
        liveBytes += size
        peakLiveBytes = max(peakLiveBytes, liveBytes)
        while pooledBytes > 0, liveBytes + pooledBytes > peakLiveBytes {
            let oldest = pooled.removeFirst()
            pooledBytes -= oldest.size
            Self.release(oldest.pointer, size: oldest.size)
        }
        allocatedBytes += size
        return (Self.allocate(size), size)
    }

    /// Buffers from 1 MiB up are mapped directly, so releasing one returns its pages to the system
    /// (malloc keeps freed blocks of up to 32 MiB in its heap, where they count as resident).
    private static let mappedSize = 1 << 20

    private static func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        if size >= mappedSize {
            guard let pointer = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                  pointer != MAP_FAILED else { fatalError("out of memory mapping \(size) bytes") }
            return pointer
        }
        var pointer: UnsafeMutableRawPointer?
        guard posix_memalign(&pointer, 64, size) == 0, let pointer else {
            fatalError("out of memory allocating \(size) bytes")
        }
        return pointer
    }

    private static func release(_ pointer: UnsafeMutableRawPointer, size: Int) {
        if size >= mappedSize { munmap(pointer, size) } else { Foundation.free(pointer) }
    }

    func give(_ pointer: UnsafeMutableRawPointer, size: Int) {
        lock.lock()
        liveBytes -= size
        pooled.append((pointer, size))
        pooledBytes += size
        lock.unlock()
    }

    /// Returns every pooled buffer to the system.
    func drain() {
        lock.lock()
        let buffers = pooled
        pooled = []
        pooledBytes = 0
        lock.unlock()
        for (pointer, size) in buffers { Self.release(pointer, size: size) }
    }
}

/// Counters of the engine's tensor memory (for benchmarks and diagnostics).
public struct MemoryStatistics: Sendable {
    /// Bytes of tensors alive now, and the most ever alive at once.
    public let liveBytes: Int, peakLiveBytes: Int
    /// Bytes kept for reuse now.
    public let pooledBytes: Int
    /// Bytes requested from the system so far (requests the pool could not serve).
    public let allocatedBytes: Int

    public static var current: MemoryStatistics {
        BufferPool.shared.statistics
    }
}

extension BufferPool {
    var statistics: MemoryStatistics {
        lock.lock(); defer { lock.unlock() }
        return MemoryStatistics(liveBytes: liveBytes, peakLiveBytes: peakLiveBytes, pooledBytes: pooledBytes,
                                allocatedBytes: allocatedBytes)
    }
}
