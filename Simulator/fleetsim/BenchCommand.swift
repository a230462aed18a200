import ArgumentParser

/// `fleetsim bench`: benchmarks that print a table and write JSON; `make bench` runs them against a hub it starts.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks that print their numbers and write them as JSON.",
        subcommands: [AMQPMultiplexBenchCommand.self])
}
