import ArgumentParser

@main
struct HaarFace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "haarface",
        abstract: "Face-recognition training with the MHLR learning-rate scheduler.",
        version: HaarFaceVersion.current,
        subcommands: [DataCommand.self, BenchDataCommand.self, SynthCommand.self])
}

enum HaarFaceVersion {
    static let current = "0.1.0"
}
