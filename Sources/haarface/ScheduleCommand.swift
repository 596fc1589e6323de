import ArgumentParser
import Foundation
import MHLR

struct ScheduleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Stream a scheduler: read one loss per line on stdin, answer each with the next step's LR.",
        discussion: """
            For training loops in other languages: feed the loss of each step as it finishes, read back the \
            learning rate of the next step (one line, flushed at once). Blank lines are ignored; 'nan' and 'inf' \
            are read as non-finite losses, which never change a detector's state.
            """)

    @OptionGroup var schedulerOptions: SchedulerOptions

    func run() throws {
        var scheduler = try schedulerOptions.makeScheduler()
        var lineNumber = 0
        while let line = readLine(strippingNewline: true) {
            lineNumber += 1
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            guard let loss = Double(text) else {
                throw CommandFailure("stdin:\(lineNumber): expected one loss per line, found '\(text)'")
            }
            let learningRate = scheduler.step(loss: loss)
            print(learningRate)
            fflush(stdout)
        }
    }
}
