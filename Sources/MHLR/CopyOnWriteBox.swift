/// A heap cell for copy-on-write value types: the owner replaces the box with a copy before mutating it
/// unless `isKnownUniquelyReferenced` says it is the only owner.
///
/// Built on `ManagedBuffer` (the value is its header, no elements) so the hot path reaches the value through
/// a pointer to its header, without the dynamic exclusivity checks a stored-property access would cost.
/// ManagedBuffer is not Sendable; owners mark the stored box `nonisolated(unsafe)`, which is sound because a
/// box reachable from more than one value is never mutated (the copy-on-write rule), so sharing one across
/// threads only ever reads it.
final class CopyOnWriteBox<Value: Sendable>: ManagedBuffer<Value, Void> {
    static func make(_ value: Value) -> CopyOnWriteBox {
        unsafeDowncast(create(minimumCapacity: 0) { _ in value }, to: CopyOnWriteBox.self)
    }

    // Through the header pointer, not ManagedBuffer's `header` property: that is a class stored property,
    // and every access to one costs a dynamic exclusivity check.

    /// Reads from the value in place.
    @inline(__always)
    func read<Result>(_ body: (borrowing Value) throws -> Result) rethrows -> Result {
        try withUnsafeMutablePointerToHeader { try body($0.pointee) }
    }

    /// Mutates the value in place; only for a uniquely referenced box.
    @inline(__always)
    func mutate<Result>(_ body: (inout Value) -> Result) -> Result {
        withUnsafeMutablePointerToHeader { body(&$0.pointee) }
    }
}
