/// A model or optimiser configuration that cannot be built, or a checkpoint that does not fit a model.
public struct NNError: Error, CustomStringConvertible, Equatable {
    public var description: String

    public init(_ description: String) { self.description = description }
}
