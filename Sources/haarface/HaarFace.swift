import ArgumentParser

@main
struct HaarFace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "haarface",
        abstract: "Face-recognition training with the MHLR learning-rate scheduler.",
        version: HaarFaceVersion.current,
        subcommands: [
            TrainCommand.self,
            CompareCommand.self,
            EvalCommand.self,
            EmbedCommand.self,
            ExportCommand.self,
            VerifyCommand.self,
            ReplayCommand.self,
            ScheduleCommand.self,
            SynthCommand.self,
            DataCommand.self,
            BenchCommand.self,
            BenchDataCommand.self,
        ])
}

enum HaarFaceVersion {
    static let current = "0.1.0"
}
