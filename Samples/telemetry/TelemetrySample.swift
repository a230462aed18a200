import ArgumentParser
import IoTHubDevice
import IoTHubProtocol
import SampleSupport

/// Sends N telemetry messages with properties, waits for every acknowledgement, and exits 0.
@main
struct TelemetrySample: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample-telemetry",
        abstract: "Send telemetry messages with properties and wait until the hub acknowledges each one.",
        discussion: "Reads IOTHUB_DEVICE_CONNECTION_STRING and, optionally, IOTHUB_CA_FILE.")

    @Option(help: "The protocol: mqtt or amqp.")
    var transport: SampleTransport = .mqtt

    @Option(help: "How many messages to send.")
    var count = 10

    @Option(name: .customLong("interval-ms"), help: "Pause between messages, in milliseconds.")
    var intervalMilliseconds = 0

    mutating func validate() throws {
        guard count >= 0 else { throw ValidationError("--count must be 0 or more") }
        guard intervalMilliseconds >= 0 else { throw ValidationError("--interval-ms must be 0 or more") }
    }

    func run() async throws {
        let client = SampleEnvironment.makeClient(transport: transport)
        let states = SampleEnvironment.logStates(of: client)
        do {
            try await client.connect()
            let started = ContinuousClock.now
            // Up to 32 messages in flight; each task returns at its PUBACK.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<count {
                    if index >= 32 { try await group.next() }
                    let temperature = 20 + Double(index % 50) / 10
                    var message = IoTHubMessage(
                        text: #"{"temperature":\#(temperature),"index":\#(index)}"#,
                        properties: ["temperatureAlert": temperature > 24 ? "true" : "false", "index": "\(index)"])
                    message.systemProperties.messageId = AMQPValue.UUIDBytes.random().description
                    message.systemProperties.contentType = "application/json"
                    message.systemProperties.contentEncoding = "utf-8"
                    group.addTask { try await client.send(message) }
                    if intervalMilliseconds > 0 { try await Task.sleep(for: .milliseconds(intervalMilliseconds)) }
                }
                try await group.waitForAll()
            }
            print("sent \(count) messages, all acknowledged, in \(ContinuousClock.now - started)")
        } catch {
            await client.close()
            SampleEnvironment.fail("\(error)")
        }
        await client.close()
        states.cancel()
    }
}
