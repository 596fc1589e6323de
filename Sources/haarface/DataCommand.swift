import ArgumentParser
import FaceData
import Foundation

/// `haarface data`: look at and convert face data sets.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Inspect and convert face data sets (RecordIO, .bin, image folders).",
        subcommands: [Inspect.self, Pack.self])

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a data set's kind, images, identities, pairs and image size as JSON.")

        @Argument(help: "A .rec/.idx, a .bin, a verification folder (pair_label.npy + imgs/), a folder with train.rec, or an image folder.")
        var path: String

        func run() throws {
            let summary = try DataSetInspector.inspect(URL(fileURLWithPath: path))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        }
    }

    struct Pack: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pack an image folder (one subfolder of JPEGs per identity) into train.rec/train.idx in InsightFace's layout.")

        @Argument(help: "The image folder.")
        var folder: String

        @Option(help: "The folder that receives train.rec and train.idx.")
        var output: String

        func run() throws {
            let written = try DataSetPacker.pack(folder: URL(fileURLWithPath: folder), output: URL(fileURLWithPath: output))
            print("packed \(written.images) images of \(written.identities) identities into \(output)/train.rec")
        }
    }
}
