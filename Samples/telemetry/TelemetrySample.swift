import IoTHubDevice
import IoTHubProtocol
import SampleSupport

/// Sends N telemetry messages with properties, waits for every acknowledgement, and exits 0.
///
/// It links only the SDK (its options are read by ``SampleArguments``, not ArgumentParser), so built with
/// `--static-swift-stdlib` it is the firmware-sized application whose footprint `make bench` reports.
@main
struct TelemetrySample {
    static let usage = """
        USAGE: sample-telemetry [--transport mqtt|amqp] [--count N] [--interval-ms MS]

        Send telemetry messages with properties and wait until the hub acknowledges each one.
        Reads IOTHUB_DEVICE_CONNECTION_STRING and, optionally, IOTHUB_CA_FILE.

        OPTIONS:
          --transport     The protocol: mqtt or amqp (default: mqtt).
          --count         How many messages to send (default: 10).
          --interval-ms   Pause between messages, in milliseconds (default: 0).
          -h, --help      Show this help.
        """

    /// The protocol: mqtt or amqp.
    var transport: SampleTransport = .mqtt
    /// How many messages to send.
    var count = 10
    /// Pause between messages, in milliseconds.
    var intervalMilliseconds = 0

    static func main() async {
        let arguments = SampleArguments(options: ["transport", "count", "interval-ms"], usage: usage)
        let sample = TelemetrySample(transport: arguments.transport(), count: arguments.integer("count", default: 10),
                                     intervalMilliseconds: arguments.integer("interval-ms", default: 0))
        await sample.run()
    }

    func run() async {
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
