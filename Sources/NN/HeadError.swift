/// A head or loss configured with values it cannot use, or called with labels or shapes that do not fit
/// it (a label outside the class count is a data error: the message names the sample and the label).
public struct HeadError: Error, CustomStringConvertible, Equatable {
    public var description: String

    public init(_ description: String) { self.description = description }
}
