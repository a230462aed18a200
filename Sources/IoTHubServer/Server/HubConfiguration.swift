import Foundation

/// How to run a hub: where its data lives, its name, and which ports it listens on.
public struct HubConfiguration: Sendable {
    /// The data directory: `hub.sqlite`, `tls/`.
    public var dataDirectory: String
    /// The host name devices and services use (`HostName=` in connection strings, SAS `sr`, certificate SAN).
    public var hostName: String
    /// Other names the hub answers to (`--hostname` given more than once): tokens, MQTT user names and AMQP
    /// addresses may name any of them, and the server certificate carries them all. The running hub adds
    /// `localhost` and `127.0.0.1`, which its certificate always names. Not an `init` parameter.
    public var hostNameAliases: [String] = []
    /// The address every listener binds.
    public var bindAddress: String
    /// MQTT over TLS (IoT Hub: 8883).
    public var mqttsPort: Int
    /// HTTPS for the service REST API and the device HTTPS API (IoT Hub: 443).
    public var httpsPort: Int
    /// Opt-in plain MQTT for local simulation; SAS authentication is still enforced.
    public var plainMQTTPort: Int?
    /// AMQP over TLS for devices, modules and back ends (IoT Hub: 5671). Not an `init` parameter.
    public var amqpsPort: Int = 5671
    /// Opt-in plain AMQP for local simulation; tokens are still checked. Not an `init` parameter.
    public var plainAMQPPort: Int?
    /// Opt-in plain HTTP for local use; SAS authentication is still enforced.
    public var plainHTTPPort: Int?
    /// How long telemetry is kept.
    public var eventRetention: TimeInterval
    /// The most telemetry bytes kept.
    public var eventMaximumBytes: Int64
    /// The built-in Event Hubs-compatible endpoint: its name (`nil`: from the host name) and partition count
    /// (`nil`: what the data directory was created with, 4 for a new one). Not an `init` parameter.
    public var eventHubName: String?
    public var eventPartitions: Int?
    /// What a commit survives before the hub acknowledges: `.full` (the default) syncs every committed batch to
    /// disk, so acknowledged messages survive power loss; `.normal` survives a killed hub process, not a lost
    /// machine, and saves one sync per batch. Not an `init` parameter.
    public var durability = SQLiteExecutor.Durability.full
    /// Limits, timings and the packet observer of the MQTT device endpoints (MQTT over TLS and plain MQTT).
    /// Not an `init` parameter: set it on a configuration after creating it.
    public var mqtt = MQTTEndpointConfiguration()
    /// Limits and timings of the AMQP endpoints (AMQP over TLS and plain AMQP). Not an `init` parameter.
    public var amqp = AMQPEndpointConfiguration()
    /// Timeouts and the connection bound of the HTTPS and plain HTTP listeners. Not an `init` parameter.
    public var http = HTTPEndpointConfiguration()
    /// Bounds on connections before they authenticate, failed logins per address, and the descriptor budget of
    /// device connections, over all device listeners. Not an `init` parameter.
    public var admission = ConnectionAdmission.Configuration()
    /// IoT Hub's tier (F1, S1, S2, S3 with units), whose throttles and daily message quota the hub enforces;
    /// `unlimited` (the default, for local development) enforces none. Not an `init` parameter.
    public var throttling = ThrottlingConfiguration.unlimited
    /// The storage (blob) endpoint devices upload files to, and the bounds of file uploads. Not an `init` parameter.
    public var storage = StorageEndpointConfiguration()

    public init(dataDirectory: String = HubConfiguration.defaultDataDirectory, hostName: String = "localhost",
                bindAddress: String = "127.0.0.1", mqttsPort: Int = 8883, httpsPort: Int = 443,
                plainMQTTPort: Int? = nil, plainHTTPPort: Int? = nil, eventRetention: TimeInterval = 86_400,
                eventMaximumBytes: Int64 = 1 << 30) {
        self.dataDirectory = dataDirectory
        self.hostName = hostName
        self.bindAddress = bindAddress
        self.mqttsPort = mqttsPort
        self.httpsPort = httpsPort
        self.plainMQTTPort = plainMQTTPort
        self.plainHTTPPort = plainHTTPPort
        self.eventRetention = eventRetention
        self.eventMaximumBytes = eventMaximumBytes
    }

    /// `$IOTHUB_DATA_DIR`, else `~/.iothub`.
    public static var defaultDataDirectory: String {
        if let explicit = ProcessInfo.processInfo.environment["IOTHUB_DATA_DIR"], !explicit.isEmpty { return explicit }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".iothub").path
    }

    /// The name printed connection strings carry: the first of the hub's names with a dot, since the official C
    /// SDK refuses a `HostName` without one (`localhost`); the host name when none has one.
    public var connectionHostName: String {
        ([hostName] + hostNameAliases).first { $0.contains(".") } ?? hostName
    }

    /// Path of the SQLite database.
    public var databasePath: String { dataDirectory + "/hub.sqlite" }
    /// Path of the TLS directory.
    public var tlsDirectory: String { dataDirectory + "/tls" }
}

/// The storage endpoint: an Azure Blob–compatible HTTPS listener that devices upload files to with the SAS URIs
/// from `POST /devices/{id}/files`.
public struct StorageEndpointConfiguration: Sendable, Hashable {
    /// Its HTTPS port; 0 (the default here; `iothub serve` uses 10443) lets the system choose one, which
    /// ``HubServer/boundPort(_:)`` reports and the storage info carries. `nil` runs the hub without storage, and file
    /// uploads fail with a clear error.
    public var port: Int? = 0
    /// The host (and port) devices must reach it at, as the storage info's `hostName` carries it. `nil`: the hub's
    /// host name and ``port`` (`localhost:10443`).
    public var hostName: String?
    /// Container, SAS lifetime, uploads per device and the disk bound.
    public var uploads = FileUploadConfiguration()

    public init() {}

    /// The host name devices are told, once the bound port is known.
    public func advertisedHostName(hubHostName: String, boundPort: Int) -> String {
        if let hostName { return hostName }
        return boundPort == 443 ? hubHostName : "\(hubHostName):\(boundPort)"
    }
}

/// Limits of the hub's HTTP listeners (the service REST API and the device HTTPS API).
public struct HTTPEndpointConfiguration: Sendable, Hashable {
    /// How long a client may take to send a request, stall a body, or idle between requests.
    public var timeouts = HTTPTimeouts()
    /// Connections one HTTP listener holds at once; beyond this it stops accepting until one closes (new clients
    /// wait in the listen backlog), so HTTP clients can never take the descriptors device connections need.
    public var maximumConnections: Int = 512

    public init() {}
}
