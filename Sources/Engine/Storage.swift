// 64-byte-aligned buffers for tensors, recycled through a size-keyed pool: a training step allocates
// the same sizes every iteration, and reusing them avoids page-faulting fresh mmaps each time.
import Foundation

/// An owned, 64-byte-aligned block of memory (oneDNN's DNNL_MEMORY_ALLOCATE is a macro Swift can't use).
final class Storage {
    let pointer: UnsafeMutableRawPointer
    let byteCount: Int

    /// A buffer of at least `byteCount` bytes, contents undefined unless `zeroed`.
    init(byteCount: Int, zeroed: Bool = false) {
        let size = BufferPool.roundedSize(max(byteCount, 64))
        self.byteCount = size
        pointer = BufferPool.shared.take(size)
        if zeroed { memset(pointer, 0, size) }
    }

    deinit { BufferPool.shared.give(pointer, size: byteCount) }

    func floats(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        precondition(count * 4 <= byteCount)
        return UnsafeMutableBufferPointer(start: pointer.assumingMemoryBound(to: Float.self), count: count)
    }
}

/// Freed buffers kept for reuse, keyed by size; bounded so an idle process does not hoard memory.
final class BufferPool: @unchecked Sendable {
    static let shared = BufferPool()

    /// Pooled (free) bytes beyond which freed buffers go back to the system.
    var limitBytes = 4 << 30
    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    private var pooledBytes = 0
    private let lock = NSLock()

    /// Sizes round up to 4 KiB above 64 KiB (so similar shapes share buffers), to 64 bytes below.
    static func roundedSize(_ size: Int) -> Int {
        let granule = size > 65536 ? 4096 : 64
        return (size + granule - 1) / granule * granule
    }

    func take(_ size: Int) -> UnsafeMutableRawPointer {
        lock.lock()
        if var list = free[size], let pointer = list.popLast() {
            free[size] = list
            pooledBytes -= size
            lock.unlock()
            return pointer
        }
        lock.unlock()
        var pointer: UnsafeMutableRawPointer?
        guard posix_memalign(&pointer, 64, size) == 0, let pointer else {
            fatalError("out of memory allocating \(size) bytes")
        }
        return pointer
    }

    func give(_ pointer: UnsafeMutableRawPointer, size: Int) {
        lock.lock()
        if pooledBytes + size <= limitBytes {
            free[size, default: []].append(pointer)
            pooledBytes += size
            lock.unlock()
            return
        }
        lock.unlock()
        Foundation.free(pointer)
    }

    /// Returns every pooled buffer to the system.
    func drain() {
        lock.lock()
        let lists = free
        free = [:]
        pooledBytes = 0
        lock.unlock()
        for pointer in lists.values.joined() { Foundation.free(pointer) }
    }
}
