import ArgumentParser
import Foundation
import IoTHubProtocol
import IoTHubServer
import Logging

@main
struct IoTHubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iothub",
        abstract: "A self-hostable, Azure IoT Hub–compatible hub.",
        subcommands: [ServeCommand.self, ConnectionStringCommand.self, DeviceCommand.self, TwinCommand.self,
                      InvokeCommand.self, CloudToDeviceCommand.self, MonitorCommand.self, FilesCommand.self, CertificateCommand.self,
                      CACommand.self, ConsumerGroupCommand.self, RouteCommand.self, EndpointCommand.self,
                      EnrichmentCommand.self])
}

/// Options shared by the commands that use the data directory.
struct DataDirectoryOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The hub's data directory (default: $IOTHUB_DATA_DIR or ~/.iothub).")
    var dataDirectory: String = HubConfiguration.defaultDataDirectory

    @Option(help: ArgumentHelp("A name devices and services use to reach the hub; repeat it for several (localhost, 127.0.0.1, a LAN name). The first is the hub's primary name. Default: the names the data directory remembers from the last `iothub serve`, else localhost.", valueName: "name"))
    var hostname: [String] = []

    /// The hub's names: those given, else those the data directory remembers, else `localhost` (the hub adds
    /// `localhost` and `127.0.0.1`, which its certificate always names).
    var hostNames: [String] {
        let names = hostname.isEmpty ? HubHostNames.remembered(dataDirectory: dataDirectory) : hostname
        return names.isEmpty ? ["localhost"] : names
    }

    /// A configuration for this data directory with these names.
    func configuration() -> HubConfiguration {
        var configuration = HubConfiguration(dataDirectory: dataDirectory, hostName: hostNames[0])
        configuration.hostNameAliases = Array(hostNames.dropFirst())
        return configuration
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run the hub until SIGINT or SIGTERM.")

    @OptionGroup var data: DataDirectoryOptions

    @Option(help: "Address every listener binds.")
    var bind: String = "127.0.0.1"

    @Option(name: .customLong("https-port"), help: "HTTPS port (service REST API and device HTTPS API).")
    var httpsPort: Int = 443

    @Option(name: .customLong("mqtts-port"), help: "MQTT over TLS port.")
    var mqttsPort: Int = 8883

    @Option(name: .customLong("plain-http-port"), help: "Also serve plain HTTP on this port (SAS still enforced).")
    var plainHTTPPort: Int?

    @Option(name: .customLong("plain-mqtt-port"), help: "Also serve plain MQTT on this port (SAS still enforced).")
    var plainMQTTPort: Int?

    @Option(name: .customLong("amqps-port"), help: "AMQP over TLS port (devices, modules and back ends); 0 lets the system choose.")
    var amqpsPort: Int = 5671

    @Option(name: .customLong("plain-amqp-port"), help: "Also serve plain AMQP on this port (tokens still checked).")
    var plainAMQPPort: Int?

    @Option(name: .customLong("storage-port"), help: "HTTPS port of the storage (blob) endpoint devices upload files to; 0 lets the system choose, off disables file upload.")
    var storagePort: String = "10443"

    @Option(name: .customLong("storage-hostname"), help: "The host[:port] devices reach the storage endpoint at (default: the first --hostname and --storage-port).")
    var storageHostName: String?

    @Option(name: .customLong("storage-max-bytes"), help: "The most bytes the storage keeps (committed files and uncommitted blocks).")
    var storageMaximumBytes: Int64 = 10 << 30

    @Option(name: .customLong("upload-sas-ttl"), help: "Seconds a file-upload SAS URI stays valid.")
    var uploadSASTimeToLive: Double = 3600

    @Option(help: "full: every acknowledged message survives power loss (one disk sync per committed batch); normal: it survives a killed hub, not a lost machine.")
    var durability: SQLiteExecutor.Durability = .full

    @Option(name: .customLong("retention-hours"), help: "How long telemetry is kept (the built-in endpoint's retention, for every consumer group).")
    var retentionHours: Double = 24

    @Option(name: .customLong("retention-bytes"), help: "The most telemetry bytes kept; the oldest messages go first.")
    var retentionBytes: Int64 = 1 << 30

    @Option(help: "Partitions of the built-in Event Hubs-compatible endpoint (1 to 32), fixed when the data directory is created (default 4).")
    var partitions: Int?

    @Option(name: .customLong("eventhub-name"), help: "The built-in endpoint's Event Hubs name, its EntityPath (default: the host name's first label, or iothub).")
    var eventHubName: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(help: "IoT Hub tier whose throttles and daily message quota to enforce: F1, S1, S2, S3 or unlimited.")
    var tier: String = "unlimited"

    @Option(help: "Units of the tier (F1: 1; S1 and S2: 1 to 200; S3: 1 to 10).")
    var units: Int = 1

    func validate() throws {
        guard storagePort == "off" || Int(storagePort).map({ (0...65535).contains($0) }) == true else {
            throw ValidationError("--storage-port must be a port number or off, not '\(storagePort)'")
        }
        guard storageMaximumBytes > 0 else { throw ValidationError("--storage-max-bytes must be positive") }
        guard uploadSASTimeToLive >= 60 else { throw ValidationError("--upload-sas-ttl must be at least 60 seconds") }
        if let partitions, !EventHubPartitioner.allowedCounts.contains(partitions) {
            throw ValidationError("--partitions must be 1 to 32, not \(partitions)")
        }
        if let eventHubName {
            let valid = !eventHubName.isEmpty && eventHubName.count <= 256
                && eventHubName.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-._".unicodeScalars.contains($0)) }
            guard valid else { throw ValidationError("--eventhub-name takes 1 to 256 letters, digits, '-', '.' and '_'") }
        }
        guard retentionHours > 0, retentionBytes > 0 else { throw ValidationError("--retention-hours and --retention-bytes must be positive") }
        do { _ = try ThrottlingConfiguration(tier: tier, units: units) } catch { throw ValidationError(error.description) }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            return handler
        }
        let logger = Logger(label: "iothub")
        var configuration = HubConfiguration(
            dataDirectory: data.dataDirectory, hostName: data.hostNames[0], bindAddress: bind, mqttsPort: mqttsPort,
            httpsPort: httpsPort, plainMQTTPort: plainMQTTPort, plainHTTPPort: plainHTTPPort,
            eventRetention: retentionHours * 3600, eventMaximumBytes: retentionBytes)
        configuration.eventPartitions = partitions
        configuration.eventHubName = eventHubName
        configuration.hostNameAliases = Array(data.hostNames.dropFirst())
        configuration.throttling = try ThrottlingConfiguration(tier: tier, units: units)
        configuration.amqpsPort = amqpsPort
        configuration.plainAMQPPort = plainAMQPPort
        configuration.durability = durability
        configuration.storage.port = storagePort == "off" ? nil : Int(storagePort)
        configuration.storage.hostName = storageHostName
        configuration.storage.uploads.maximumBytes = storageMaximumBytes
        configuration.storage.uploads.sasTimeToLive = uploadSASTimeToLive
        let server: HubServer
        do { server = try await HubServer.start(configuration, logger: logger) } catch let error as HubStartupError {
            throw ValidationError(error.description)
        }
        if server.data.created {
            print("Created hub data in \(configuration.dataDirectory); trust \(server.data.tls.caCertificatePath).")
            for policy in server.data.policies {
                print("\(policy.name): \(policy.connectionString(hostName: server.configuration.connectionHostName))")
            }
            if let service = server.data.policies.first(where: { $0.permissions.contains(.serviceConnect) }) {
                print("built-in endpoint (Event Hubs-compatible, \(server.services.eventHub.partitioner.count) partitions): "
                      + "\(EventHubConnectionString(hostName: server.configuration.connectionHostName, keyName: service.name, key: service.primaryKey.base64, entityPath: server.services.eventHub.name))")
            }
        }
        let names = [server.configuration.hostName] + server.configuration.hostNameAliases
        print("iothub ready on \(names.joined(separator: ", ")): https \(configuration.bindAddress):\(configuration.httpsPort)"
              + (configuration.plainHTTPPort.map { ", http \($0)" } ?? ""))
        fflush(nil)
        try await server.run()
    }
}

struct ConnectionStringCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connection-string", abstract: "Print a shared access policy's connection string.")

    @OptionGroup var data: DataDirectoryOptions

    @Option(help: "The policy: iothubowner, service, device, registryRead or registryReadWrite.")
    var policy: String = "iothubowner"

    @Flag(name: .customLong("eventhub"), help: "Print the built-in endpoint's Event Hubs-compatible connection string instead (the policy needs ServiceConnect).")
    var eventHub = false

    func run() async throws {
        let configuration = data.configuration()
        guard FileManager.default.fileExists(atPath: configuration.databasePath) else {
            throw ValidationError("no hub in \(configuration.dataDirectory); start one with `iothub serve --data-dir \(configuration.dataDirectory)`")
        }
        let store = try SQLiteHubStore(path: configuration.databasePath)
        defer { store.close() }
        guard let match = try await store.policies().first(where: { $0.name == policy }) else {
            throw ValidationError("no policy named '\(policy)'")
        }
        guard eventHub else { return print(match.connectionString(hostName: configuration.connectionHostName)) }
        guard match.permissions.contains(.serviceConnect) else {
            throw ValidationError("policy '\(policy)' lacks ServiceConnect, which Event Hubs readers need; use --policy service or iothubowner")
        }
        let stored = try await store.setting("event_hub_name")
        let name = stored ?? EventHubService.defaultName(hostName: configuration.hostName)
        print(EventHubConnectionString(hostName: configuration.connectionHostName, keyName: match.name,
                                       key: match.primaryKey.base64, entityPath: name))
    }
}

/// `--durability full|normal`.
extension SQLiteExecutor.Durability: ExpressibleByArgument {
    public init?(argument: String) { self.init(option: argument) }
    public static var allValueStrings: [String] { ["full", "normal"] }
    public var defaultValueDescription: String { self == .full ? "full" : "normal" }
}
