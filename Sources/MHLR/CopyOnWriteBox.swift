/// A heap cell for copy-on-write value types: the owner replaces the box with a copy before mutating it
/// unless `isKnownUniquelyReferenced` says it is the only owner.
///
/// Built on `ManagedBuffer` (the value is its header, no elements) so the hot path reaches the value through
/// a pointer, without the dynamic exclusivity checks a class's stored property would cost on every step.
/// ManagedBuffer is not Sendable; owners mark the stored box `nonisolated(unsafe)`, which is sound because a
/// box reachable from more than one value is never mutated (the copy-on-write rule), so sharing one across
/// threads only ever reads it.
final class CopyOnWriteBox<Value: Sendable>: ManagedBuffer<Value, Void> {
    static func make(_ value: Value) -> CopyOnWriteBox {
        unsafeDowncast(create(minimumCapacity: 0) { _ in value }, to: CopyOnWriteBox.self)
    }

    var value: Value {
        withUnsafeMutablePointerToHeader { $0.pointee }
    }

    /// Runs `body` on the value in place; only for a uniquely referenced box.
    @inline(__always)
    func mutate<Result>(_ body: (inout Value) -> Result) -> Result {
        withUnsafeMutablePointerToHeader { body(&$0.pointee) }
    }
}
