/// A fixed-capacity FIFO of doubles: the last `capacity` values pushed, oldest first.
struct RingBuffer: Codable, Equatable, Sendable {
    private var storage: [Double]
    /// Index in `storage` of the oldest value once full; the next write position.
    private var head = 0
    private(set) var count = 0

    private enum CodingKeys: String, CodingKey { case storage, head, count }

    init(capacity: Int) {
        precondition(capacity > 0, "ring buffer capacity must be positive")
        storage = [Double](repeating: 0, count: capacity)
    }

    /// Decodes and checks the invariants, so a damaged checkpoint throws instead of trapping later.
    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        storage = try container.decode([Double].self, forKey: .storage)
        head = try container.decode(Int.self, forKey: .head)
        count = try container.decode(Int.self, forKey: .count)
        let consistent = !storage.isEmpty && (0..<storage.count).contains(head) && (0...storage.count).contains(count)
            && (count == storage.count || head == 0)
        guard consistent else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "ring buffer with capacity \(storage.count), head \(head), count \(count) is inconsistent"))
        }
    }

    var capacity: Int { storage.count }
    var isFull: Bool { count == storage.count }

    /// The value `offset` places after the oldest one (0 = oldest).
    @inline(__always)
    subscript(offset: Int) -> Double {
        // While filling, head stays 0, so this is also right for a partial buffer.
        var index = head + offset
        if index >= storage.count { index -= storage.count }
        return storage[index]
    }

    /// Appends `value`; returns the value it pushed out when the buffer was already full.
    @inline(__always)
    @discardableResult
    mutating func push(_ value: Double) -> Double? {
        if count < storage.count {
            storage[count] = value
            count += 1
            return nil
        }
        let evicted = storage[head]
        storage[head] = value
        head += 1
        if head == storage.count { head = 0 }
        return evicted
    }
}
