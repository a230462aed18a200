import ArgumentParser
import IoTHubDevice
import IoTHubProtocol
import SampleSupport

/// A device that authenticates with an X.509 certificate instead of a key: connects, sends N messages, reports a
/// property, and exits 0 once everything was acknowledged.
@main
struct X509DeviceSample: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample-x509-device",
        abstract: "Connect with an X.509 client certificate, send telemetry, report a twin property.",
        discussion: """
            Reads IOTHUB_HOSTNAME, IOTHUB_DEVICE_ID, IOTHUB_X509_CERT_FILE, IOTHUB_X509_KEY_FILE and, optionally, \
            IOTHUB_X509_PASS_PHRASE, IOTHUB_CA_FILE and IOTHUB_MQTT_PORT. For the local hub: \
            `iothub cert issue --device ID` makes the certificate, `iothub device create ID --auth-method \
            x509_thumbprint --primary-thumbprint SHA256` registers it.
            """)

    @Option(help: "The protocol: mqtt or amqp.", transform: { try SampleTransport.parse($0) })
    var transport: SampleTransport = .mqtt

    @Option(help: "How many messages to send.")
    var count = 5

    func run() async throws {
        let client: DeviceClient
        do {
            client = try DeviceClient(
                hostName: SampleEnvironment.required("IOTHUB_HOSTNAME", "the hub's host name"),
                deviceId: SampleEnvironment.required("IOTHUB_DEVICE_ID", "the device id (the certificate's CN for a CA-signed one)"),
                certificateFile: SampleEnvironment.required("IOTHUB_X509_CERT_FILE", "the device certificate's PEM file"),
                privateKeyFile: SampleEnvironment.required("IOTHUB_X509_KEY_FILE", "its private key's PEM file"),
                passphrase: SampleEnvironment.value("IOTHUB_X509_PASS_PHRASE"),
                options: SampleEnvironment.clientOptions(transport: transport))
        } catch {
            SampleEnvironment.fail("\(error)")
        }
        let states = SampleEnvironment.logStates(of: client)
        do {
            try await client.connect()
            for index in 0..<count {
                try await client.send(IoTHubMessage(text: #"{"index":\#(index)}"#, properties: ["auth": "x509"]))
            }
            let version = try await client.updateReportedProperties(["authentication": "x509", "sent": .integer(Int64(count))])
            print("sent \(count) messages with an X.509 certificate, all acknowledged; reported version \(version)")
        } catch {
            await client.close()
            SampleEnvironment.fail("\(error)")
        }
        await client.close()
        states.cancel()
    }
}
