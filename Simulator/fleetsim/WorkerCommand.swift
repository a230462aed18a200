import ArgumentParser
import FleetSimulation
import Foundation
import IoTHubProtocol

/// `fleetsim worker` (started by `fleetsim run --scenario` when the fleet needs more than one process): runs one
/// slice of the scenario's fleet, with keys derived from the coordinator's seed (the coordinator provisioned
/// them), its part of the service side, progress as JSON lines on standard output, and its run document in a file.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Run one slice of a scenario for a coordinating fleetsim (internal).",
        shouldDisplay: false)

    @OptionGroup var hub: HubOptions
    @Option var scenario: String
    @Option var seed: String
    @Option var sliceStart: Int
    @Option var sliceEnd: Int
    @Option(help: "The run's start (Unix milliseconds), shared by every worker so their timelines line up.")
    var startedUnixMs: Int64
    @Option var outputJson: String
    @Option var window: Int = 10
    @Option var mqttPort: Int = 8883
    @Option var plainMqttPort: Int?
    @Option var amqpPort: Int = 5671
    @Option var plainAmqpPort: Int?
    @Option var loops: Int = 1
    @Option var connectRate: Double?
    @Option var durationSeconds: Int?
    @Option var rampTimeoutSeconds: Int = 300
    @Option var scale: Double?
    @Option var bind: String?

    func run() async throws {
        let scenario = try FleetRunCommand.loadScenario(self.scenario, durationSeconds: durationSeconds, scale: scale)
        let ids = ScenarioRun.deviceIds(scenario)
        guard 0 <= sliceStart, sliceStart < sliceEnd, sliceEnd <= ids.count else {
            throw ValidationError("slice \(sliceStart)..<\(sliceEnd) is outside the fleet of \(ids.count)")
        }
        guard let seed = try? SharedAccessKey(base64: seed) else { throw ValidationError("--seed must be base64") }
        let slice = sliceStart..<sliceEnd
        var keys: [String: String] = [:]
        for id in ids[slice] { keys[id] = seed.derivedDeviceKey(registrationId: id).base64 }

        let provisioner = try hub.provisioner()
        let fleet = FleetRunCommand.connection(hostName: provisioner.connectionString.hostName, hub: hub, mqttPort: mqttPort,
                                               plainMqttPort: plainMqttPort, loops: loops, bind: bind)
        var transport = try NativeMQTTEngine.Configuration(fleet)
        transport.window = window
        transport.connectsPerSecond = connectRate
        var options = ScenarioRun.Options(transport: transport)
        options.amqpTransport = try FleetRunCommand.amqpTransport(scenario, transport, amqpPort: amqpPort,
                                                                  plainAmqpPort: plainAmqpPort, caFile: hub.caFile)
        options.slice = slice
        options.share = Double(slice.count) / Double(ids.count)
        options.certificateAuthority = try FleetRunCommand.certificateAuthority(scenario, seed: seed)
        options.rampTimeout = .seconds(max(1, rampTimeoutSeconds))
        let behind = Date().timeIntervalSince1970 * 1000 - Double(startedUnixMs)
        options.started = ContinuousClock.now - .milliseconds(Int64(max(0, behind)))
        options.display = LiveDisplay.workerProgress { line in
            print(line, terminator: "")
            fflush(nil)
        }
        let service = try ServiceClient(connectionString: provisioner.connectionString, endpoint: hub.endpoint, caFile: hub.caFile)
        let document: FleetRunDocument
        do {
            document = try await ScenarioRun(scenario: scenario, options: options, keys: keys, service: service).run()
            await service.shutdown()
        } catch {
            await service.shutdown()
            throw error
        }
        try JSONEncoder().encode(document).write(to: URL(fileURLWithPath: outputJson))
    }
}
