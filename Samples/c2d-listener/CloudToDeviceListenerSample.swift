import ArgumentParser
import IoTHubDevice
import IoTHubProtocol
import SampleSupport

/// Prints cloud-to-device messages with their properties as they arrive.
@main
struct CloudToDeviceListenerSample: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample-c2d-listener",
        abstract: "Print cloud-to-device messages as they arrive.",
        discussion: "Reads IOTHUB_DEVICE_CONNECTION_STRING and, optionally, IOTHUB_CA_FILE.")

    @Option(help: "The protocol: mqtt or amqp.", transform: { try SampleTransport.parse($0) })
    var transport: SampleTransport = .mqtt

    @Option(help: "Exit after this many messages (0: run until interrupted).")
    var count = 0

    func run() async throws {
        let client = SampleEnvironment.makeClient(transport: transport)
        let states = SampleEnvironment.logStates(of: client)
        do {
            try await client.connect()
        } catch {
            await client.close()
            SampleEnvironment.fail("\(error)")
        }
        let messages = await client.cloudToDeviceMessages()
        print("listening for cloud-to-device messages to \(client.identity.clientId)")
        var received = 0
        for await message in messages {
            received += 1
            let properties = message.properties.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            let id = message.systemProperties.messageId ?? "-"
            print("message \(received) id=\(id) properties=[\(properties.joined(separator: ", "))]: "
                  + String(decoding: message.body, as: UTF8.self))
            if count > 0, received >= count { break }
        }
        await client.close()
        states.cancel()
    }
}
