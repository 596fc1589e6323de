import FaceData
import Foundation

/// A comparison of schedules: one model on one data set trained under several arms (each a set of training
/// settings laid over a common base), each with several seeds. Read from YAML or JSON:
///
///     base: {network: r18, batch_size: 64, lr: 0.1}    # training settings, or the path of a config file
///     reference: poly-20
///     seeds: [1, 2, 3]
///     arms:
///       - {name: poly-20, num_epoch: 20, scheduler: {name: poly}}
///       - {name: mhlr-5, num_epoch: 5, scheduler: {name: mhlr, window_fraction: 0.05}}
///
/// With no `rec` in the base, the runs train on a synthetic set (`synthetic:`, `haarface synth`'s settings).
public struct Study {
    public struct Arm {
        public var name: String
        /// Training settings of this arm, by config key, laid over the base.
        public var overrides: [String: Any]
    }

    /// Where the study came from: a file path, or "default study".
    public var source: String
    public var base: TrainingConfig
    public var reference: String
    public var seeds: [UInt64]
    public var arms: [Arm]
    /// The synthetic set generated for the runs when the base names no data.
    public var synthetic: SynthConfig
    /// The settings the base names (the others keep their defaults, or the study's choice).
    public var baseKeys: Set<String>

    static let keys = ["base", "reference", "seeds", "arms", "synthetic"]
    /// Settings the study sets itself for every run.
    static let ownedSettings = ["output": "each run's folder is <output>/<arm>/seed-<n>", "seed": "the seeds list sets it"]

    /// The training settings of `arm` with `seed`, written to `directory` (the run's folder).
    public func config(arm: Arm, seed: UInt64, directory: URL) throws -> TrainingConfig {
        var config = try base.applying(arm.overrides, source: "\(source): arm '\(arm.name)'")
        config.seed = seed
        config.output = directory.path
        return config
    }

    public func arm(named name: String) -> Arm? { arms.first { $0.name == name } }

    /// Whether the base or `arm` sets `key` (a setting the study otherwise chooses, such as `verbose`).
    public func sets(_ key: String, in arm: Arm) -> Bool { baseKeys.contains(key) || arm.overrides[key] != nil }

    /// Reads a study file; every problem names the file and the key.
    public static func load(_ url: URL) throws -> Study {
        let values = try ConfigError.mapping(in: url, of: "base, reference, seeds and arms")
        return try Study(values: values, source: url.path, directory: url.deletingLastPathComponent())
    }

    /// A study from parsed values; `directory` resolves a relative `base` config path.
    public init(values: [String: Any], source: String, directory: URL) throws {
        func fail(_ message: String) -> ConfigError { ConfigError(file: source, message: message) }
        if let unknown = values.keys.sorted().first(where: { !Self.keys.contains($0) }) {
            throw fail("unknown key '\(unknown)' (known: \(Self.keys.joined(separator: ", ")))")
        }
        self.source = source
        var baseValues: [String: Any] = [:]
        var baseSource = "\(source): base"
        switch values["base"] {
        case nil: break
        case let path as String:
            let url = URL(fileURLWithPath: path, relativeTo: directory)
            baseValues = try TrainingConfig.fileValues(url)
            baseSource = url.path
        case let mapping as [String: Any]: baseValues = mapping
        default: throw fail("base: expected a mapping of training settings or the path of a config file")
        }
        for (key, why) in Self.ownedSettings where baseValues[key] != nil { throw fail("base: '\(key)' is set by the study: \(why)") }
        base = try TrainingConfig().applying(baseValues, source: baseSource)
        baseKeys = Set(baseValues.keys)

        guard let armValues = values["arms"] as? [Any], !armValues.isEmpty else {
            throw fail("arms: expected a list of arms, each a mapping with a name and training settings")
        }
        var arms: [Arm] = []
        for (index, value) in armValues.enumerated() {
            guard var mapping = value as? [String: Any], let name = mapping.removeValue(forKey: "name") as? String,
                  !name.isEmpty else {
                throw fail("arms[\(index)]: expected a mapping with a 'name' and training settings")
            }
            guard name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }), name != ".", name != ".." else {
                throw fail("arms[\(index)]: the name '\(name)' names a folder: use letters, digits, '-', '_' and '.'")
            }
            if arms.contains(where: { $0.name == name }) { throw fail("arms[\(index)]: duplicate arm name '\(name)'") }
            for (key, why) in Self.ownedSettings where mapping[key] != nil {
                throw fail("arms[\(index)] '\(name)': '\(key)' is set by the study: \(why)")
            }
            let arm = Arm(name: name, overrides: mapping)
            try base.applying(mapping, source: "\(source): arms[\(index)] '\(name)'").validate(source: "\(source): arms[\(index)] '\(name)'")
            arms.append(arm)
        }
        self.arms = arms

        guard let reference = values["reference"] as? String ?? arms.first?.name else { throw fail("reference: expected an arm name") }
        guard arms.contains(where: { $0.name == reference }) else {
            throw fail("reference: no arm is named '\(reference)' (arms: \(arms.map(\.name).joined(separator: ", ")))")
        }
        self.reference = reference

        switch values["seeds"] {
        case nil: seeds = [base.seed]
        case let list as [Any]:
            let parsed = list.compactMap { ($0 as? Int).flatMap { $0 >= 0 ? UInt64($0) : nil } }
            guard parsed.count == list.count, !parsed.isEmpty, Set(parsed).count == parsed.count else {
                throw fail("seeds: expected a list of distinct whole numbers >= 0")
            }
            seeds = parsed
        default: throw fail("seeds: expected a list of distinct whole numbers >= 0")
        }

        if let value = values["synthetic"] {
            guard JSONSerialization.isValidJSONObject([value]),
                  let data = try? JSONSerialization.data(withJSONObject: value),
                  let decoded = try? JSONDecoder.snakeCase.decode(SynthConfig.self, from: data) else {
                throw fail("synthetic: expected identities, images_per_identity, image_size, seed, pairs, pair_identities, difficulty")
            }
            try decoded.validate()
            synthetic = decoded
        } else {
            synthetic = DefaultStudy.synthetic
        }
    }
}

extension TrainingConfig {
    /// `validate()` with the problem attributed to `source` (a study's arm).
    func validate(source: String) throws {
        do { try validate() } catch let error as ConfigError { throw ConfigError(file: source, message: error.message) }
    }
}

extension JSONDecoder {
    static var snakeCase: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }
}
