import ArgumentParser
import Foundation
import IoTHubDevice
import IoTHubProtocol
import SampleSupport

/// Many devices over one AMQP connection, as a gateway carries them: every device authenticates with its own token
/// on the shared connection, sends telemetry and waits for each acknowledgement.
@main
struct AMQPGatewaySample: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample-amqp-gateway",
        abstract: "Connect many devices over one shared AMQP connection and send telemetry from each.",
        discussion: """
            Reads the devices' connection strings from a file, one per line (for the local hub: \
            iothub device connection-string ID for each), and, optionally, IOTHUB_CA_FILE and IOTHUB_AMQP_PORT. \
            Up to 995 devices share one connection; more open more connections.
            """)

    @Option(help: "A file with one device connection string per line.")
    var devices: String

    @Option(help: "Messages each device sends.")
    var messages = 5

    mutating func validate() throws {
        guard messages >= 0 else { throw ValidationError("--messages must be 0 or more") }
    }

    func run() async throws {
        let lines: [String]
        do {
            lines = try String(contentsOfFile: devices, encoding: .utf8).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        } catch {
            SampleEnvironment.fail("cannot read the device list '\(devices)': \(error)")
        }
        guard !lines.isEmpty else { SampleEnvironment.fail("'\(devices)' names no device") }
        let pool = AMQPConnectionPool()
        var options = SampleEnvironment.clientOptions(transport: .amqp)
        options.transport = .amqp(sharing: pool)
        let clients: [DeviceClient]
        do {
            clients = try lines.map { try DeviceClient(connectionString: $0, options: options) }
        } catch {
            SampleEnvironment.fail("\(error)")
        }
        let started = ContinuousClock.now
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for client in clients { group.addTask { try await client.connect() } }
                try await group.waitForAll()
            }
            let connected = ContinuousClock.now
            let connections = await pool.connections
            print("\(clients.count) devices connected over \(connections.count) AMQP connection(s) in \(connected - started)")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for client in clients {
                    group.addTask {
                        for index in 0..<messages {
                            var message = IoTHubMessage(text: #"{"index":\#(index)}"#, properties: ["index": "\(index)"])
                            message.systemProperties.contentType = "application/json"
                            try await client.send(message)
                        }
                    }
                }
                try await group.waitForAll()
            }
            print("sent \(clients.count * messages) messages, all acknowledged, in \(ContinuousClock.now - connected)")
        } catch {
            await closeAll(clients)
            SampleEnvironment.fail("\(error)")
        }
        await closeAll(clients)
    }

    private func closeAll(_ clients: [DeviceClient]) async {
        await withTaskGroup(of: Void.self) { group in
            for client in clients { group.addTask { await client.close() } }
        }
    }
}
