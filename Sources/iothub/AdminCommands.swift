import ArgumentParser
import Foundation
import IoTHubProtocol

/// How the admin verbs find the hub.
struct HubClientOptions: ParsableArguments {
    @Option(name: .customLong("connection-string"), help: "A policy connection string (default: $IOTHUB_CONNECTION_STRING, else the local data dir).")
    var connectionString: String?

    @Option(help: "The hub's REST endpoint (default: https://{HostName}). Use http://localhost:PORT for --plain-http-port.")
    var endpoint: String?

    @Option(name: .customLong("ca-file"), help: "CA to trust (default: $IOTHUB_CA_FILE, else DATA_DIR/tls/ca.pem, else the system store).")
    var caFile: String?

    @OptionGroup var data: DataDirectoryOptions
}

/// Runs `body` with a connected client, shutting the client down afterwards whatever happens.
func withHub(_ options: HubClientOptions, _ body: (HubClient) async throws -> Void) async throws {
    let client = try await HubClient(options: options)
    do {
        try await body(client)
    } catch {
        await client.shutdown()
        throw error
    }
    await client.shutdown()
}

func printJSON(_ bytes: [UInt8]) {
    if let value = try? JSONValue(parsing: bytes) { print(value.serialized(style: .pretty)) } else {
        print(String(decoding: bytes, as: UTF8.self))
    }
}

/// Prints a JSON array an element a line (nothing for anything else), for the `list` verbs.
func printJSONLines(_ bytes: [UInt8]) throws {
    guard case .array(let items) = try JSONValue(parsing: bytes) else { return }
    for item in items { print(item.serialized()) }
}

func parseJSON(_ text: String, option: String) throws -> JSONValue {
    do { return try JSONValue(parsing: text) } catch { throw ValidationError("\(option) is not valid JSON: \(error)") }
}

func pathSegment(_ id: String) -> String { PercentEncoding.encode(id) }

struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device", abstract: "Manage device identities.",
        subcommands: [Create.self, List.self, Show.self, Delete.self, ConnectionString.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a device (or module): generated SAS keys, or X.509 (thumbprint or CA-signed).")
        @Argument var deviceId: String
        @Option var module: String?
        @Flag(help: "Create it disabled.") var disabled = false
        @Flag(help: "Mark it as an IoT Edge device.") var edge = false
        @Option(help: "shared_private_key (default), x509_thumbprint or x509_ca.") var authMethod = "shared_private_key"
        @Option(help: "With x509_thumbprint: the certificate's SHA-1 or SHA-256 thumbprint.") var primaryThumbprint: String?
        @Option(help: "With x509_thumbprint: a second thumbprint (for rollover).") var secondaryThumbprint: String?
        @OptionGroup var hub: HubClientOptions

        mutating func validate() throws {
            switch authMethod {
            case "shared_private_key", "x509_ca":
                guard primaryThumbprint == nil, secondaryThumbprint == nil else {
                    throw ValidationError("thumbprints go with --auth-method x509_thumbprint")
                }
            case "x509_thumbprint":
                guard primaryThumbprint != nil || secondaryThumbprint != nil else {
                    throw ValidationError("--auth-method x509_thumbprint needs --primary-thumbprint (see `iothub cert issue`)")
                }
            default:
                throw ValidationError("--auth-method must be shared_private_key, x509_thumbprint or x509_ca")
            }
        }

        func run() async throws {
            try await withHub(hub) { client in
                var body: JSONObject = ["deviceId": .string(deviceId), "status": .string(disabled ? "disabled" : "enabled"),
                                        "capabilities": ["iotEdge": .bool(edge)]]
                switch authMethod {
                case "x509_thumbprint":
                    body["authentication"] = ["type": "selfSigned", "x509Thumbprint": [
                        "primaryThumbprint": primaryThumbprint.map(JSONValue.string) ?? .null,
                        "secondaryThumbprint": secondaryThumbprint.map(JSONValue.string) ?? .null,
                    ]]
                case "x509_ca":
                    body["authentication"] = ["type": "certificateAuthority"]
                default:
                    break
                }
                printJSON(try await client.send(.PUT, devicePath(deviceId, module),
                                                body: JSONValue.object(body).serializedBytes()).body)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List devices.")
        @Option var top = 1000
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in printJSON(try await client.send(.GET, "/devices?top=\(top)").body) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a device (or module).")
        @Argument var deviceId: String
        @Option var module: String?
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in printJSON(try await client.send(.GET, devicePath(deviceId, module)).body) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a device (with its modules) or a module.")
        @Argument var deviceId: String
        @Option var module: String?
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                _ = try await client.send(.DELETE, devicePath(deviceId, module), headers: [("If-Match", "*")])
                print("deleted \(module.map { "\(deviceId)/\($0)" } ?? deviceId)")
            }
        }
    }

    struct ConnectionString: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "connection-string", abstract: "Print a device's (or module's) connection string.")
        @Argument var deviceId: String
        @Option var module: String?
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                let device = try JSONValue(parsing: try await client.send(.GET, devicePath(deviceId, module)).body)
                guard let key = device["authentication"]?["symmetricKey"]?["primaryKey"]?.stringValue else {
                    throw HubClientError("'\(deviceId)' does not use SAS keys")
                }
                print(IoTHubProtocol.ConnectionString(hostName: client.connectionString.hostName, deviceId: deviceId,
                                                      moduleId: module, sharedAccessKey: key))
            }
        }
    }
}

func devicePath(_ deviceId: String, _ module: String?) -> String {
    "/devices/\(pathSegment(deviceId))" + (module.map { "/modules/\(pathSegment($0))" } ?? "")
}

struct TwinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "twin", abstract: "Read and update device twins.", subcommands: [Show.self, Update.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a twin.")
        @Argument var deviceId: String
        @Option var module: String?
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                printJSON(try await client.send(.GET, devicePath(deviceId, module).replacingOccurrences(of: "/devices/", with: "/twins/")).body)
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Merge desired properties and/or tags into a twin.")
        @Argument var deviceId: String
        @Option var module: String?
        @Option(help: "Desired-properties patch, as JSON.") var desired: String?
        @Option(help: "Tags patch, as JSON.") var tags: String?
        @Option(help: "Only if the twin's etag still matches.") var etag: String?
        @OptionGroup var hub: HubClientOptions

        func validate() throws {
            if desired == nil && tags == nil { throw ValidationError("give --desired and/or --tags") }
        }

        func run() async throws {
            var body = JSONObject()
            if let desired { body["properties"] = ["desired": try parseJSON(desired, option: "--desired")] }
            if let tags { body["tags"] = try parseJSON(tags, option: "--tags") }
            try await withHub(hub) { client in
                let path = devicePath(deviceId, module).replacingOccurrences(of: "/devices/", with: "/twins/")
                printJSON(try await client.send(.PATCH, path, body: JSONValue.object(body).serializedBytes(),
                                                headers: etag.map { [("If-Match", "\"\($0)\"")] } ?? []).body)
            }
        }
    }
}

struct InvokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "invoke", abstract: "Invoke a direct method on a device.")
    @Argument var deviceId: String
    @Argument var method: String
    @Option var module: String?
    @Option(help: "The method payload, as JSON.") var payload = "null"
    @Option(name: .customLong("timeout"), help: "Seconds to wait for the answer (5–300).") var timeout = 30
    @Option(name: .customLong("connect-timeout"), help: "Seconds to wait for the device to connect (0–300).") var connectTimeout = 0
    @OptionGroup var hub: HubClientOptions

    func run() async throws {
        let body: JSONValue = ["methodName": .string(method), "payload": try parseJSON(payload, option: "--payload"),
                               "responseTimeoutInSeconds": .integer(Int64(timeout)),
                               "connectTimeoutInSeconds": .integer(Int64(connectTimeout))]
        try await withHub(hub) { client in
            let path = devicePath(deviceId, module).replacingOccurrences(of: "/devices/", with: "/twins/") + "/methods"
            printJSON(try await client.send(.POST, path, body: body.serializedBytes()).body)
        }
    }
}

struct CloudToDeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "c2d", abstract: "Cloud-to-device messages.",
                                                    subcommands: [Send.self])

    struct Send: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Queue a message for a device (over HTTPS).")
        @Argument var deviceId: String
        @Argument var body: String
        @Option(name: .customLong("property"), help: "An application property, key=value (repeatable).") var properties: [String] = []
        @Option(help: "Feedback wanted: none, positive, negative or full.") var ack = "none"
        @Option(name: .customLong("message-id")) var messageId: String?
        @Option(name: .customLong("ttl"), help: "Seconds until it expires (default 3600).") var timeToLive: Int?
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            var headers: [(String, String)] = [("iothub-ack", ack)]
            if let messageId { headers.append(("iothub-messageid", messageId)) }
            if let timeToLive { headers.append(("iothub-ttl", String(timeToLive))) }
            for property in properties {
                let parts = property.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { throw ValidationError("--property takes key=value, not '\(property)'") }
                headers.append(("iothub-app-\(parts[0])", String(parts[1])))
            }
            try await withHub(hub) { client in
                _ = try await client.send(.POST, "/devices/\(pathSegment(deviceId))/messages/deviceBound",
                                          body: Array(body.utf8), headers: headers)
                print("queued for \(deviceId)")
            }
        }
    }
}

struct MonitorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor", abstract: "Stream telemetry as JSON lines until interrupted.")
    @Option(name: .customLong("device")) var deviceId: String?
    @Flag(name: .customLong("from-start"), help: "Begin with the oldest stored message.") var fromStart = false
    @Option(help: "Stop after this many messages.") var limit: Int?
    @OptionGroup var hub: HubClientOptions

    func run() async throws {
        var query = ["fromStart=\(fromStart)"]
        if let deviceId { query.append("deviceId=\(PercentEncoding.encode(deviceId))") }
        if let limit { query.append("limit=\(limit)") }
        try await withHub(hub) { client in
            try await client.streamLines("/monitor/events?" + query.joined(separator: "&")) { line in
                print(line)
                fflush(nil)
            }
        }
    }
}
