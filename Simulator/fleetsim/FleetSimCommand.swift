import ArgumentParser

/// `fleetsim`: simulated device fleets against an IoT Hub–compatible endpoint (`run`, the default), creating
/// their devices in bulk (`provision`), and the benchmarks a hub operator reruns (`bench`).
@main
struct FleetSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleetsim",
        abstract: "Simulated IoT device fleets and benchmarks against an IoT Hub–compatible endpoint.",
        subcommands: [FleetRunCommand.self, ProvisionCommand.self, ReportCommand.self, MergeCommand.self, BenchCommand.self, WorkerCommand.self],
        defaultSubcommand: FleetRunCommand.self)
}
