import ArgumentParser
import Foundation
import Training

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Train one model under several schedules (arms) and seeds, and compare time to accuracy.",
        discussion: """
            STUDY is a YAML or JSON file: `base` (training settings, or a config file's path), `reference` (an arm \
            name), `seeds` and `arms` (each a `name` and the settings it changes, the scheduler included). Each arm x \
            seed is an ordinary training run in <output>/<arm>/seed-<n>/; the table (compare.md, compare.json) and \
            figures (compare.svg) come from those runs' files. Without STUDY, runs the default study (the paper's \
            experiment at small scale on a synthetic set; docs/mhlr-study.md).
            """)

    @Argument(help: "The study file (default: the built-in study).")
    var study: String?

    @Option(help: "The study's folder.")
    var output = "work_dirs/compare"

    @Option(help: "Seeds, comma-separated, instead of the study's.")
    var seeds: String?

    @Flag(help: "Keep finished runs and continue an interrupted one from its checkpoint.")
    var resume = false

    func run() throws {
        var plan = try study.map { try Study.load(URL(fileURLWithPath: $0)) } ?? DefaultStudy.study()
        if let seeds {
            let parsed = seeds.split(separator: ",").map { UInt64($0.trimmingCharacters(in: .whitespaces)) }
            guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil }), Set(parsed).count == parsed.count else {
                throw ValidationError("--seeds takes distinct whole numbers, comma-separated (e.g. 1,2,3), not '\(seeds)'")
            }
            plan.seeds = parsed.map { $0! }
        }
        let comparison = Comparison(study: plan, output: URL(fileURLWithPath: output), resume: resume) { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        let result = try comparison.run()
        print(result.verdicts.joined(separator: "\n"))
    }
}
