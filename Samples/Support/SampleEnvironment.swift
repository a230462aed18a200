import Glibc
import IoTHubDevice

/// The `--transport` option every sample takes: `mqtt` (the default) or `amqp`.
public enum SampleTransport: String, CaseIterable, Sendable {
    case mqtt, amqp

    /// The SDK transport this names.
    public var transport: DeviceClientTransport { self == .amqp ? .amqp : .mqtt }

    /// Parses the option's value.
    /// - Throws: ``SampleArgumentError`` naming the choices.
    public static func parse(_ text: String) throws(SampleArgumentError) -> SampleTransport {
        guard let transport = SampleTransport(rawValue: text) else {
            throw SampleArgumentError("--transport must be mqtt or amqp, not '\(text)'")
        }
        return transport
    }
}

/// A command-line value a sample cannot use, with what to pass instead.
public struct SampleArgumentError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What every sample reads from its environment, as Azure's own samples do. (No Foundation here: a sample built
/// with `--static-swift-stdlib` carries neither Foundation nor ICU, which is how its footprint is measured.)
///
/// - `IOTHUB_DEVICE_CONNECTION_STRING` (required): `HostName=…;DeviceId=…;SharedAccessKey=…`
///   (`iothub device connection-string ID` prints one for the local hub).
/// - `IOTHUB_CA_FILE` (optional): a PEM file of CAs to trust instead of the system store; for the local hub,
///   its `tls/ca.pem`.
/// - `IOTHUB_MQTT_PORT` (optional): the MQTT-over-TLS port when it is not 8883 (a local hub on another port).
/// - `IOTHUB_AMQP_PORT` (optional): the AMQP-over-TLS port when it is not 5671 (with `--transport amqp`).
/// - `IOTHUB_HTTPS_PORT` (optional): the hub's HTTPS port when it is not 443 (file upload).
public enum SampleEnvironment {
    /// A client from the environment; exits with a message when the connection string is missing or malformed.
    public static func makeClient(transport: SampleTransport = .mqtt) -> DeviceClient {
        let connectionString = required(
            "IOTHUB_DEVICE_CONNECTION_STRING",
            "the device's connection string (for the local hub: iothub device connection-string DEVICE_ID)")
        do {
            return try DeviceClient(connectionString: connectionString, options: clientOptions(transport: transport))
        } catch {
            fail("\(error)")
        }
    }

    /// Options from `IOTHUB_CA_FILE`, `IOTHUB_MQTT_PORT`, `IOTHUB_AMQP_PORT` and `IOTHUB_HTTPS_PORT` for `transport`; exits with a
    /// message when a port is not a port number.
    public static func clientOptions(transport: SampleTransport = .mqtt) -> DeviceClientOptions {
        var options = DeviceClientOptions()
        options.transport = transport.transport
        if let portText = value("IOTHUB_AMQP_PORT"), !portText.isEmpty {
            guard let port = Int(portText), (1...65535).contains(port) else {
                fail("IOTHUB_AMQP_PORT must be a port number, not '\(portText)'")
            }
            options.amqpPort = port
        }
        if let portText = value("IOTHUB_HTTPS_PORT"), !portText.isEmpty {
            guard let port = Int(portText), (1...65535).contains(port) else {
                fail("IOTHUB_HTTPS_PORT must be a port number, not '\(portText)'")
            }
            options.httpsPort = port
        }
        if let caFile = value("IOTHUB_CA_FILE"), !caFile.isEmpty { options.trust = .caFile(caFile) }
        if let portText = value("IOTHUB_MQTT_PORT"), !portText.isEmpty {
            guard let port = Int(portText), (1...65535).contains(port) else {
                fail("IOTHUB_MQTT_PORT must be a port number, not '\(portText)'")
            }
            options.port = port
        }
        return options
    }

    /// The value of the environment variable `name`; exits with "set NAME to WHAT" when it is missing or empty.
    public static func required(_ name: String, _ what: String) -> String {
        guard let value = value(name), !value.isEmpty else { fail("set \(name) to \(what)") }
        return value
    }

    /// The environment variable `name`, or `nil` when it is not set.
    public static func value(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// Writes `text` and a line feed to standard error.
    public static func printError(_ text: String) {
        var line = text + "\n"
        line.withUTF8 { bytes in _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
    }

    /// Prints connection state changes to standard error while the sample runs.
    public static func logStates(of client: DeviceClient) -> Task<Void, Never> {
        Task {
            for await state in await client.connectionStates {
                printError("[\(client.identity.clientId)] \(state)")
            }
        }
    }

    /// Prints `message` to standard error and exits with status 1.
    public static func fail(_ message: String) -> Never {
        printError("error: \(message)")
        exit(1)
    }
}
