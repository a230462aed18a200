import ArgumentParser
import FleetSimulation
import Foundation
import IoTHubProtocol
import Logging

/// `fleetsim run` (the default subcommand): many virtual devices against an IoT Hub–compatible endpoint, with a
/// report of what connected, what was acknowledged, throughput and latency percentiles.
struct FleetRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a fleet of simulated devices against an IoT Hub–compatible endpoint and report.",
        discussion: """
            Creates (or updates) the devices through the service REST API with --connection-string (a policy with \
            RegistryWrite), connects them over MQTT with the swift-iot-hub device SDK, has each send --messages \
            telemetry messages, waits for every acknowledgement, and prints throughput and send→PUBACK latency \
            percentiles. Exits 0 when every device connected and every message was acknowledged.
            """)

    @OptionGroup var hub: HubOptions

    @Option(help: "native-mqtt (each device a socket on MQTTCore's client session; the default) or sdk (each device a DeviceClient).")
    var engine: FleetEngineChoice = .nativeMQTT

    @Option(help: "QoS 1 messages in flight per device (native-mqtt).")
    var window: Int = 10

    @Option(help: "First connects per second across the fleet (native-mqtt; default: as fast as handshakes go).")
    var connectRate: Double?

    @Option(help: "MQTT over TLS port.")
    var mqttPort: Int = 8883

    @Option(help: "Use this plain MQTT port instead of TLS (the companion hub's --plain-mqtt-port).")
    var plainMqttPort: Int?

    @Option(help: "With --scenario: AMQP over TLS port for native-amqp groups.")
    var amqpPort: Int = 5671

    @Option(help: "With --scenario: use this plain AMQP port for native-amqp groups instead of TLS (the companion hub's --plain-amqp-port).")
    var plainAmqpPort: Int?

    @Option(help: "Simulated devices.")
    var devices: Int = 100

    @Option(help: "Telemetry messages per device.")
    var messages: Int = 10

    @Option(name: .customLong("interval-ms"), help: "Pause between one device's messages, in milliseconds.")
    var intervalMilliseconds: Int = 0

    @Option(help: "Telemetry body size in bytes.")
    var payloadBytes: Int = 64

    @Option(help: "Device event loop threads.")
    var loops: Int = 1

    @Option(help: "Devices connecting at the same time, at most.")
    var connectConcurrency: Int = 64

    @Option(help: "Device id prefix.")
    var prefix: String = "sim-"

    @Option(help: "Comma-separated source addresses to spread connections over (e.g. 127.0.0.2,127.0.0.3).")
    var bind: String?

    @Option(help: "Stop waiting after this many seconds and report what finished.")
    var deadlineSeconds: Int = 600

    @Option(help: "Also write the report as JSON to this file.")
    var json: String?

    @Option(help: "Run this scenario file (YAML; see Simulator/scenarios/) instead of --devices × --messages.")
    var scenario: String?

    @Option(help: "With --scenario: the timed part lasts this many seconds instead of the scenario's duration.")
    var durationSeconds: Int?

    @Option(help: "With --scenario: multiply every group's device count by this (e.g. 0.1 for a smaller fleet).")
    var scale: Double?

    @Option(help: "With --scenario: write run.json, report.md and report.html here (default: fleetsim-reports/NAME-TIME).")
    var output: String?

    @Option(help: "With --scenario: how long the fleet may take to come up, in seconds, before the timed part starts anyway.")
    var rampTimeoutSeconds: Int = 300

    @Flag(help: "With --scenario: no live display.")
    var quiet = false

    @Option(help: "With --scenario: worker processes (default: as many as the device count needs at --devices-per-worker each).")
    var workers: Int?

    @Option(help: "With --scenario: devices one worker process carries at most (20,000 files per process here).")
    var devicesPerWorker: Int = 15_000

    @Option(help: "With --scenario: run only part i of N of the fleet (0-based, e.g. a Kubernetes Indexed Job's completion index); merge the parts with fleetsim merge.")
    var shard: String?

    @Flag(help: "Create no devices: derive their keys from --seed (devices made earlier), or connect to a plain MQTT broker whose keys do not matter.")
    var noProvision = false

    @Option(help: "With --scenario: derive device keys from this base64 seed (the same seed gives the same keys; default: a random one).")
    var seed: String?

    mutating func validate() throws {
        guard devices >= 1 else { throw ValidationError("--devices must be at least 1") }
        // A process may open 20,000 files: an SDK device costs 3 (libmosquitto), a native one 1.
        let limit = engine == .sdk ? 6_000 : 19_000
        guard devices <= limit else {
            throw ValidationError("--devices over \(limit) needs more file descriptors than one process may open here with the \(engine.rawValue) engine; run several fleetsim processes")
        }
        guard window >= 1 else { throw ValidationError("--window must be at least 1") }
        guard messages >= 0, intervalMilliseconds >= 0, payloadBytes >= 0 else {
            throw ValidationError("--messages, --interval-ms and --payload-bytes must not be negative")
        }
        guard (1...64).contains(loops) else { throw ValidationError("--loops must be from 1 to 64") }
        guard connectConcurrency >= 1 else { throw ValidationError("--connect-concurrency must be at least 1") }
    }

    func run() async throws {
        if let scenario { return try await runScenario(scenario) }
        var logger = Logger(label: "fleetsim")
        logger.logLevel = .warning
        let provisioner = try hub.provisioner()
        var configuration = connection(hostName: provisioner.connectionString.hostName)
        configuration.devices = devices
        configuration.messagesPerDevice = messages
        configuration.messageInterval = .milliseconds(intervalMilliseconds)
        configuration.payloadSize = payloadBytes
        configuration.connectConcurrency = connectConcurrency
        configuration.deviceIdPrefix = prefix
        configuration.deadline = .seconds(deadlineSeconds)

        let keys: [String: String]
        if noProvision {
            // A plain MQTT broker (Mosquitto, for the simulator's own cost) or devices made earlier with --seed.
            let derived = try seed.map { text -> SharedAccessKey in
                guard let key = try? SharedAccessKey(base64: text) else { throw ValidationError("--seed must be base64") }
                return key
            } ?? .random()
            keys = FleetProvisioner.derivedKeys(for: configuration.deviceIds, seed: derived)
        } else {
            print("fleetsim: creating \(devices) devices through \(provisioner.endpoint)")
            keys = try await provisioner.provision(configuration.deviceIds)
        }
        let transport = plainMqttPort.map { "plain MQTT on port \($0)" } ?? "MQTT over TLS on port \(mqttPort)"
        print("fleetsim: \(devices) devices × \(messages) messages over \(transport) to \(hub.gateway ?? configuration.hostName), \(loops) loop(s), \(engine.rawValue) engine")
        let report: FleetReport
        switch engine {
        case .sdk:
            report = try await FleetRun.run(configuration, keys: keys, logger: logger)
        case .nativeMQTT:
            var native = try NativeMQTTEngine.Configuration(configuration)
            native.window = window
            native.connectsPerSecond = connectRate
            let ids = configuration.deviceIds
            let result = try await NativeMQTTEngine.run(native, devices: ids.map { ($0, keys[$0] ?? "") })
            report = result.report(messagesPerDevice: messages)
        }
        print(report.text)
        print(ProcessCPU.summary(messages: report.acknowledged))
        if let json {
            try Data(report.json.serializedBytes(style: .pretty)).write(to: URL(fileURLWithPath: json))
            print("fleetsim: report written to \(json)")
        }
        if !report.isComplete { throw ExitCode(1) }
    }
}

/// The engines `fleetsim run` offers.
enum FleetEngineChoice: String, ExpressibleByArgument, CaseIterable {
    case nativeMQTT = "native-mqtt"
    case sdk
}
