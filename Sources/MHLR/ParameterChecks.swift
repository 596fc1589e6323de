/// Shared checks that throw a `SchedulerParameterError` naming the parameter.
enum ParameterChecks {
    static func positiveFinite(_ value: Double, _ name: String) throws {
        guard value.isFinite, value > 0 else {
            throw SchedulerParameterError(parameter: name, value: "\(value)", requirement: "a finite number > 0")
        }
    }

    static func finite(_ value: Double, _ name: String) throws {
        guard value.isFinite else {
            throw SchedulerParameterError(parameter: name, value: "\(value)", requirement: "a finite number")
        }
    }

    static func nonNegativeFinite(_ value: Double, _ name: String) throws {
        guard value.isFinite, value >= 0 else {
            throw SchedulerParameterError(parameter: name, value: "\(value)", requirement: "a finite number >= 0")
        }
    }

    static func atLeast(_ value: Int, _ minimum: Int, _ name: String) throws {
        guard value >= minimum else {
            throw SchedulerParameterError(parameter: name, value: "\(value)", requirement: "an integer >= \(minimum)")
        }
    }

    /// A multiplicative decay: divides the LR, so it must exceed 1.
    static func decayFactor(_ value: Double, _ name: String) throws {
        guard value.isFinite, value > 1 else {
            throw SchedulerParameterError(parameter: name, value: "\(value)", requirement: "a finite number > 1")
        }
    }

    /// A smoothing weight in (0, 1].
    static func unitWeight(_ value: Double, _ name: String) throws {
        guard value.isFinite, value > 0, value <= 1 else {
            throw SchedulerParameterError(parameter: name, value: "\(value)", requirement: "a number in (0, 1]")
        }
    }

    /// An LR floor between 0 and the base LR.
    static func floor(_ value: Double, baseLR: Double, _ name: String) throws {
        guard value.isFinite, value >= 0, value <= baseLR else {
            throw SchedulerParameterError(
                parameter: name, value: "\(value)", requirement: "a finite number in [0, baseLR = \(baseLR)]")
        }
    }
}
