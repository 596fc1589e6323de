// Each primitive is created once per (operation, shapes, layouts, attributes) and reused: creating a
// oneDNN primitive descriptor walks its implementation list and JIT-compiles a kernel.
import Foundation

final class PrimitiveCache: @unchecked Sendable {
    static let shared = PrimitiveCache()

    private var primitives: [String: Primitive] = [:]
    private let lock = NSLock()

    /// The primitive stored under `key`, made by `make` on first use.
    func primitive(_ key: String, _ make: () throws -> Primitive) throws -> Primitive {
        lock.lock()
        if let found = primitives[key] { lock.unlock(); return found }
        lock.unlock()
        let made = try make()
        lock.lock()
        primitives[key] = made
        lock.unlock()
        return made
    }

    /// The implementation oneDNN chose for each cached primitive, by primitive name (for tests and logs).
    var implementations: [(name: String, implementation: String)] {
        lock.lock(); defer { lock.unlock() }
        return primitives.values.map { ($0.name, $0.desc.implementation) }
    }

    /// Number of cached primitives (tests check that repeated shapes reuse them).
    var count: Int {
        lock.lock(); defer { lock.unlock() }
        return primitives.count
    }
}
