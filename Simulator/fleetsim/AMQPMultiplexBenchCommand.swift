import ArgumentParser
import FleetSimulation
import Foundation
import IoTHubProtocol
import Logging

/// `fleetsim bench amqp-multiplex`: device attaches per second and resident memory per idle device, hub and SDK,
/// with many devices over few AMQP connections.
struct AMQPMultiplexBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "amqp-multiplex",
        abstract: "Many SDK devices over few AMQP connections: attaches/s and RSS per idle device (hub and SDK).",
        discussion: """
            Creates the devices through the service REST API (--connection-string, a policy with RegistryWrite), \
            connects --warmup-devices of them over shared AMQP connections (up to 995 devices each), samples \
            resident memory, connects the rest, samples again, and reports the difference per device: for this \
            process (the SDK) and, with --hub-pid, for the hub. Every device then sends one message; the exit status \
            is 1 unless every one was acknowledged.
            """)

    @OptionGroup var hub: HubOptions

    @Option(help: "AMQP over TLS port.")
    var amqpPort: Int = 5671

    @Option(help: "Use this plain AMQP port instead of TLS (the companion hub's --plain-amqp-port).")
    var plainAmqpPort: Int?

    @Option(help: "Devices in all.")
    var devices: Int = 20_000

    @Option(help: "Devices connected before the first memory sample.")
    var warmupDevices: Int = 2_000

    @Option(help: "The hub's process id, to sample its resident memory.")
    var hubPid: Int32?

    @Option(help: "Device id prefix.")
    var prefix: String = "bench-amqp-"

    @Option(help: "Also write the result as JSON to this file.")
    var json: String?

    mutating func validate() throws {
        guard devices >= 2 else { throw ValidationError("--devices must be at least 2") }
        guard (1..<devices).contains(warmupDevices) else {
            throw ValidationError("--warmup-devices must be at least 1 and fewer than --devices")
        }
        // One file descriptor per 995 devices, and a process may open 20,000.
        guard devices <= 5_000_000 else { throw ValidationError("--devices over 5,000,000 is more than one process holds") }
    }

    func run() async throws {
        var logger = Logger(label: "fleetsim.bench")
        logger.logLevel = .warning
        let provisioner = try hub.provisioner()
        var configuration = AMQPMultiplexBenchmark.Configuration(hostName: provisioner.connectionString.hostName)
        configuration.gatewayHostName = hub.gateway
        configuration.amqpsPort = amqpPort
        configuration.plainAMQPPort = plainAmqpPort
        configuration.caFile = hub.caFile
        configuration.devices = devices
        configuration.warmupDevices = warmupDevices
        configuration.hubProcessId = hubPid
        configuration.deviceIdPrefix = prefix
        print("fleetsim bench amqp-multiplex: creating \(devices) devices through \(provisioner.endpoint)")
        let keys = try await provisioner.provision(configuration.deviceIds)
        let result = try await AMQPMultiplexBenchmark.run(configuration, keys: keys, logger: logger)
        print(result.text)
        if let json {
            try Data(result.json.serializedBytes(style: .pretty)).write(to: URL(fileURLWithPath: json))
            print("fleetsim bench: result written to \(json)")
        }
        if result.acknowledged != result.devices { throw ExitCode(1) }
    }
}
