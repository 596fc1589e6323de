import Foundation
import MHLR

/// One setting of a training run, declared once (in `TrainingConfig.settings`): its config key
/// (arcface_torch's name), the flag derived from it, its help, its check and whether a resumed run may change
/// it. The config file reader, the flags of `haarface train`, the arm overrides of `haarface compare`,
/// `validate()` and the resume rule all go through this table, so no setting can be dropped by one of them.
public struct Setting: @unchecked Sendable {
    /// Whether `--resume` may change the setting from the checkpoint's value.
    public enum ResumeRule: Sendable {
        /// Safe to change between runs of one training (logging, workers, verification sets).
        case mayChange
        /// Part of what was trained: a resumed run keeps it, and asking for another value is an error.
        case fixed
    }

    /// The config key, snake_case: `batch_size`.
    public let key: String
    public let help: String
    /// What the flag takes, for help: `<int>`, `<number>`, ...; empty for an on/off flag.
    public let valueName: String
    public let onResume: ResumeRule
    /// Whether `haarface train` takes it as a flag (the scheduler has flags of its own).
    public let hasFlag: Bool

    fileprivate let assignFlag: (inout TrainingConfig, String) -> Bool
    fileprivate let assignValue: (inout TrainingConfig, Any) throws -> Void
    fileprivate let decode: (inout TrainingConfig, KeyedDecodingContainer<SettingKey>) throws -> Void
    fileprivate let encode: (TrainingConfig, inout KeyedEncodingContainer<SettingKey>) throws -> Void
    fileprivate let problem: (TrainingConfig) -> String?
    fileprivate let describe: (TrainingConfig) -> String
    fileprivate let same: (TrainingConfig, TrainingConfig) -> Bool
    fileprivate let copy: (inout TrainingConfig, TrainingConfig) -> Void

    /// Whether two configs hold the same value of this setting.
    func sameValue(_ a: TrainingConfig, _ b: TrainingConfig) -> Bool { same(a, b) }
    /// The value in `config`, as help and errors print it.
    func valueDescription(_ config: TrainingConfig) -> String { describe(config) }

    /// `--batch-size`.
    public var flag: String { "--" + key.replacingOccurrences(of: "_", with: "-") }
    /// An on/off flag: `--fp16` alone turns it on, `--no-fp16` (or `--fp16=false`) off.
    public var isSwitch: Bool { valueName.isEmpty }
    /// `--no-tensorboard`: the flag that turns a switch off.
    public var negatedFlag: String { "--no-" + flag.dropFirst(2) }
    /// Whether the setting is on unless a flag turns it off (a switch whose default is true).
    var isOnByDefault: Bool { isSwitch && describe(TrainingConfig()) == "true" }

    /// A setting stored at `path`. `check` returns what is wrong with a value (nil: fine); it sees the whole
    /// config for checks against other settings.
    static func make<Value: SettingValue>(
        _ key: String, _ path: WritableKeyPath<TrainingConfig, Value>, _ help: String, onResume: ResumeRule = .fixed,
        hasFlag: Bool = true, check: @escaping (Value, TrainingConfig) -> String? = { _, _ in nil }
    ) -> Setting {
        let codingKey = SettingKey(key)
        return Setting(
            key: key, help: help, valueName: Value.valueName, onResume: onResume, hasFlag: hasFlag,
            assignFlag: { config, text in
                guard let value = Value(flag: text) else { return false }
                config[keyPath: path] = value
                return true
            },
            assignValue: { config, value in config[keyPath: path] = try Value.fromSettingValue(value, current: config[keyPath: path]) },
            decode: { config, container in
                if let value = try container.decodeIfPresent(Value.self, forKey: codingKey) { config[keyPath: path] = value }
            },
            encode: { config, container in try container.encode(config[keyPath: path], forKey: codingKey) },
            problem: { config in check(config[keyPath: path], config) },
            describe: { config in config[keyPath: path].settingDescription },
            same: { $0[keyPath: path] == $1[keyPath: path] },
            copy: { $0[keyPath: path] = $1[keyPath: path] })
    }
}

/// A coding key made from a setting's name.
struct SettingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// A type a setting can hold: read from a flag's text, from a config file's value, and printed back.
protocol SettingValue: Codable, Equatable {
    init?(flag: String)
    static var valueName: String { get }
    var settingDescription: String { get }
    /// The value a config file (YAML or JSON, already parsed) gives; `current` is the value it replaces
    /// (nested settings such as the scheduler merge onto it).
    static func fromSettingValue(_ value: Any, current: Self) throws -> Self
}

/// A value of the wrong type in a config file or override: `expected` names the type.
struct SettingTypeError: Error {
    var expected: String
    var found: String
}

extension SettingValue {
    var settingDescription: String { "\(self)" }

    static func fromSettingValue(_ value: Any, current: Self) throws -> Self {
        try decodeJSONValue(value)
    }

    /// Decodes an already parsed YAML or JSON value by way of JSON (YAML's scalars are JSON's).
    static func decodeJSONValue(_ value: Any) throws -> Self {
        let found = String(describing: value)
        guard JSONSerialization.isValidJSONObject([value]),
              let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]),
              let decoded = try? JSONDecoder().decode(Self.self, from: data) else {
            throw SettingTypeError(expected: "\(Self.self)", found: found)
        }
        return decoded
    }
}

extension Int: SettingValue {
    init?(flag: String) { self.init(flag.trimmingCharacters(in: .whitespaces)) }
    static var valueName: String { "<int>" }
}

extension UInt64: SettingValue {
    init?(flag: String) { self.init(flag.trimmingCharacters(in: .whitespaces)) }
    static var valueName: String { "<int>" }
}

extension Double: SettingValue {
    init?(flag: String) { self.init(flag.trimmingCharacters(in: .whitespaces)) }
    static var valueName: String { "<number>" }
}

extension String: SettingValue {
    init?(flag: String) { self = flag }
    static var valueName: String { "<text>" }
}

extension Bool: SettingValue {
    init?(flag: String) {
        switch flag.lowercased() {
        case "true", "yes", "1": self = true
        case "false", "no", "0": self = false
        default: return nil
        }
    }
    static var valueName: String { "" }
}

extension Array: SettingValue where Element: SettingValue {
    /// Comma-separated: `--margin-list 1,0.5,0`, `--val-targets lfw,cfp_fp`.
    init?(flag: String) {
        var values: [Element] = []
        for part in flag.split(separator: ",", omittingEmptySubsequences: false) {
            guard let value = Element(flag: part.trimmingCharacters(in: .whitespaces)) else { return nil }
            values.append(value)
        }
        self = values
    }
    static var valueName: String { "<\(Element.valueName.dropFirst().dropLast()),...>" }
    var settingDescription: String { "[" + map(\.settingDescription).joined(separator: ", ") + "]" }
}

extension SchedulerSpec: SettingValue {
    init?(flag: String) { nil }
    static var valueName: String { "<scheduler>" }
    var settingDescription: String { (try? String(decoding: JSONEncoder.sorted.encode(self), as: UTF8.self)) ?? "\(kind)" }

    /// A mapping of scheduler parameters: with a `name` other than the current scheduler's it describes a new
    /// scheduler (unset parameters take their defaults); otherwise its parameters change the current one's.
    static func fromSettingValue(_ value: Any, current: SchedulerSpec) throws -> SchedulerSpec {
        guard let overrides = value as? [String: Any] else {
            throw SettingTypeError(expected: "a mapping of scheduler parameters (name: mhlr, window: 400, ...)",
                                   found: String(describing: value))
        }
        return try current.applying(overrides)
    }

    /// The spec with `overrides` (snake_case parameter names) applied as `fromSettingValue` describes.
    public func applying(_ overrides: [String: Any]) throws -> SchedulerSpec {
        let known = Set(Self.parameterNames)
        if let unknown = overrides.keys.sorted().first(where: { !known.contains($0) }) {
            throw SettingTypeError(expected: "a scheduler parameter (\(known.sorted().joined(separator: ", ")))",
                                   found: "'\(unknown)'")
        }
        var merged: [String: Any] = [:]
        let newKind = (overrides["name"] as? String).flatMap(Kind.init(rawValue:))
        if newKind == nil || newKind == kind,
           let object = try JSONSerialization.jsonObject(with: JSONEncoder.sorted.encode(self)) as? [String: Any] {
            merged = object
        }
        merged.merge(overrides) { $1 }
        return try Self.decodeJSONValue(merged)
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    /// Indented, keys sorted: for files a person reads (summary.json, compare.json).
    public static var pretty: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return encoder
    }
}

extension TrainingConfig {
    /// The setting named `key` (snake_case), if any.
    public static func setting(_ key: String) -> Setting? { settings.first { $0.key == key } }

    /// The config with the settings in `values` (config keys -> parsed YAML or JSON values) replaced, as a
    /// config file, a study's `base` or an arm gives them. Unknown keys and values of the wrong type are
    /// errors naming `source` and the key.
    public func applying(_ values: [String: Any], source: String) throws -> TrainingConfig {
        var config = self
        let known = Self.settings.map(\.key)
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            guard let setting = Self.setting(key) else {
                throw ConfigError(file: source, message: "unknown setting '\(key)' (known: \(known.sorted().joined(separator: ", ")))")
            }
            do {
                try setting.assignValue(&config, value)
            } catch let error as SettingTypeError {
                throw ConfigError(file: source, message: "'\(key)' should be \(error.expected): found \(error.found)")
            }
        }
        return config
    }

    /// The config with settings given as command-line flags (`--batch-size 64`, `--batch-size=64`, `--fp16`,
    /// `--no-tensorboard`).
    /// Returns the keys set, in order; an unknown flag or a value that does not parse is an error naming it.
    public func applyingFlags(_ arguments: [String]) throws -> (config: TrainingConfig, keys: [String]) {
        var config = self, keys: [String] = [], index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--") else {
                throw ConfigError(file: "flags", message: "unexpected argument '\(argument)' (settings are flags such as --batch-size 64)")
            }
            var name = String(argument.dropFirst(2)), text: String?
            if let equals = name.firstIndex(of: "=") {
                text = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            let negated = Self.settings.first { $0.hasFlag && $0.isSwitch && $0.negatedFlag == "--" + name }
            if let negated {
                guard text == nil else {
                    throw ConfigError(file: "flags", message: "\(negated.negatedFlag) takes no value (\(negated.flag)=\(text!) sets one)")
                }
                text = "false"
            }
            guard let setting = negated ?? Self.settings.first(where: { $0.hasFlag && $0.flag == "--" + name }) else {
                let flags = Self.settings.filter(\.hasFlag).map { $0.isOnByDefault ? $0.negatedFlag : $0.flag }
                throw ConfigError(file: "flags", message: "unknown flag '--\(name)' (train's settings: \(flags.joined(separator: ", ")))")
            }
            if text == nil {
                if setting.isSwitch {
                    text = "true"
                } else if index < arguments.count {
                    text = arguments[index]
                    index += 1
                } else {
                    throw ConfigError(file: "flags", message: "\(setting.flag) needs a value \(setting.valueName)")
                }
            }
            guard setting.assignFlag(&config, text!) else {
                throw ConfigError(file: "flags", message: "\(setting.flag): '\(text!)' is not \(setting.valueName.isEmpty ? "true or false" : setting.valueName)")
            }
            keys.append(setting.key)
        }
        return (config, keys)
    }

    /// The config a resumed run continues with: the checkpoint's `saved` settings, with the settings that may
    /// change between runs taken from `requested`. A fixed setting that differs is an error naming it.
    public static func resumed(saved: TrainingConfig, requested: TrainingConfig, checkpoint: String) throws -> TrainingConfig {
        var config = saved
        for setting in settings where !setting.same(saved, requested) {
            guard setting.onResume == .mayChange else {
                throw ConfigError(file: checkpoint, message: """
                    \(setting.key): the run was trained with \(setting.describe(saved)), not \(setting.describe(requested)); \
                    a resumed run keeps it (start a new run in another --output to change it)
                    """)
            }
            setting.copy(&config, requested)
        }
        return config
    }

    /// Help for the flags: each flag on a line, its help below it, wrapped to fit 80 columns.
    public static var flagHelp: String {
        settings.filter(\.hasFlag).map { setting in
            let help = setting.help + (setting.onResume == .mayChange ? " May change on --resume." : "")
            let flag = setting.isOnByDefault ? setting.negatedFlag : setting.flag
            var lines = ["  " + "\(flag) \(setting.valueName)".trimmingCharacters(in: .whitespaces)]
            var line = "       "
            for word in help.split(separator: " ") {
                if line.count + word.count + 1 > 78 { lines.append(line); line = "       " }
                line += " " + word
            }
            return (lines + [line]).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    public init(from decoder: Decoder) throws {
        self.init()
        let container = try decoder.container(keyedBy: SettingKey.self)
        for setting in Self.settings { try setting.decode(&self, container) }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: SettingKey.self)
        for setting in Self.settings { try setting.encode(self, &container) }
    }

    /// Checks every setting (and each against the others); the message names the setting.
    public func validate() throws {
        for setting in Self.settings {
            if let problem = setting.problem(self) { throw ConfigError(file: "config", message: "\(setting.key): \(problem)") }
        }
    }

    public static func == (lhs: TrainingConfig, rhs: TrainingConfig) -> Bool {
        settings.allSatisfy { $0.same(lhs, rhs) }
    }
}
