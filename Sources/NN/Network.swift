// The backbones HaarFace builds, by arcface_torch's names (get_model in backbones/__init__.py).

/// A backbone by its arcface_torch name: the one list that flags, help texts, error messages, checkpoint
/// detection and the builders derive from.
public enum Network: String, CaseIterable, Sendable {
    case r18, r34, r50, r100, r200, mbf

    /// IResNet's residual blocks per stage (insightface's iresnet18 ... iresnet200); nil for MobileFaceNet.
    public var stageBlocks: [Int]? {
        switch self {
        case .r18: return [2, 2, 2, 2]
        case .r34: return [3, 4, 6, 3]
        case .r50: return [3, 4, 14, 3]
        case .r100: return [3, 13, 30, 3]
        case .r200: return [6, 26, 60, 6]
        case .mbf: return nil
        }
    }

    /// 18 ... 200 for the IResNets; nil for MobileFaceNet.
    public var iresnetDepth: Int? { stageBlocks == nil ? nil : Int(rawValue.dropFirst()) }

    /// The IResNet of `depth` layers, if there is one.
    public static func iresnet(depth: Int) -> Network? { allCases.first { $0.iresnetDepth == depth } }

    /// The names in order: r18, r34, r50, r100, r200, mbf.
    public static var names: [String] { allCases.map(\.rawValue) }

    /// The names as a sentence lists them: "r18, r34, r50, r100, r200 or mbf".
    public static var nameList: String { names.dropLast().joined(separator: ", ") + " or " + names.last! }
}
