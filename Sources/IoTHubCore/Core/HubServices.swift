import Foundation
import IoTHubProtocol
import Logging

/// The hub's protocol-agnostic core: every protocol head talks to these services and nothing else.
public struct HubServices: Sendable {
    public let hostName: String
    public let store: any HubStore
    public let presence: PresenceDirectory
    public let authenticator: HubAuthenticator
    public let registry: RegistryService
    public let twins: TwinService
    public let events: EventService
    /// The built-in Event Hubs-compatible endpoint over ``events``.
    public let eventHub: EventHubService
    /// Message routing: custom endpoints, routes, enrichments, the fallback route and system events.
    public let routing: RoutingService
    public let methods: MethodDispatcher
    public let cloudToDevice: CloudToDeviceService
    public let certificates: CertificateService
    public let metrics: HubMetrics
    /// What device listeners admit before authentication (shared by every device port).
    public let admission: ConnectionAdmission
    /// IoT Hub's throttles and daily quota for the hub's tier (`unlimited` admits everything at no cost).
    public let throttle: HubThrottle
    /// Session open and close for the protocol heads.
    public let sessions: DeviceSessionRegistry
    /// File uploads and their blob store; `nil` when the hub runs without storage (as an IoT Hub with no storage
    /// account: `POST /devices/{id}/files` then fails with a clear error).
    public let fileUploads: FileUploadService?
    public let logger: Logger

    /// - Parameters:
    ///   - deviceCertificateAuthorities: PEM CA certificates trusted for CA-signed (`certificateAuthority`) devices.
    ///   - admission: the bounds on unauthenticated connections, failed logins and device connections.
    ///   - throttling: the tier whose throttles and daily quota the hub enforces.
    ///   - fileUploads: file uploads over a blob store, or `nil` for a hub without storage.
    ///   - hostNameAliases: other names the hub answers to besides `hostName` (tokens, user names, addresses).
    ///   - builtInEndpoint: the Event Hubs-compatible endpoint's name, partitions and creation time.
    public init(hostName: String, store: any HubStore, policies: [AccessPolicy], logger: Logger,
                eventRetention: Double = 86_400, eventMaximumBytes: Int64 = 1 << 30, metrics: HubMetrics = HubMetrics(),
                deviceCertificateAuthorities: [String] = [], admission: ConnectionAdmission = ConnectionAdmission(),
                throttling: ThrottlingConfiguration = .unlimited, fileUploads: FileUploadService? = nil,
                hostNameAliases: [String] = [], builtInEndpoint: BuiltInEndpoint = BuiltInEndpoint()) {
        self.fileUploads = fileUploads
        self.hostName = hostName
        self.admission = admission
        throttle = HubThrottle(configuration: throttling, metrics: metrics)
        self.store = store
        self.logger = logger
        self.metrics = metrics
        let presence = PresenceDirectory(metrics: metrics)
        self.presence = presence
        authenticator = HubAuthenticator(hostName: hostName, store: store, policies: policies,
                                         deviceCertificateAuthorities: deviceCertificateAuthorities, aliases: hostNameAliases)
        let signal = EventLogSignal()
        let partitioner = EventHubPartitioner(count: builtInEndpoint.partitionCount)
        let eventHubName = builtInEndpoint.name ?? EventHubService.defaultName(hostName: hostName)
        eventHub = EventHubService(name: eventHubName, stream: 0, partitioner: partitioner, signal: signal, store: store,
                                   createdAt: builtInEndpoint.createdAt, logger: logger,
                                   maximumReceiversPerPartition: builtInEndpoint.maximumReceiversPerPartition)
        let routing = RoutingService(store: store, builtIn: eventHub, signal: signal, hubName: eventHubName, logger: logger,
                                     metrics: metrics, maximumReceiversPerPartition: builtInEndpoint.maximumReceiversPerPartition)
        self.routing = routing
        registry = RegistryService(store: store, presence: presence, logger: logger, routing: routing)
        twins = TwinService(store: store, presence: presence, logger: logger, metrics: metrics, routing: routing)
        events = EventService(store: store, retention: eventRetention, maximumBytes: eventMaximumBytes,
                              partitioner: partitioner, logger: logger, metrics: metrics, signal: signal, routing: routing)
        methods = MethodDispatcher(presence: presence, logger: logger, metrics: metrics)
        cloudToDevice = CloudToDeviceService(store: store, presence: presence, logger: logger, metrics: metrics)
        sessions = DeviceSessionRegistry(store: store, presence: presence, methods: methods, metrics: metrics, routing: routing)
        certificates = CertificateService(store: store, logger: logger)
    }
}

/// The built-in endpoint as a hub was set up: what ``HubServices`` needs to serve it.
public struct BuiltInEndpoint: Sendable, Hashable {
    /// The event hub's name; `nil` derives it from the host name (``EventHubService/defaultName(hostName:)``).
    public var name: String?
    /// Partitions (1...32), fixed when the data directory is created.
    public var partitionCount: Int
    /// When the data directory was created.
    public var createdAt: Date
    /// Receivers without an epoch per consumer group and partition (Event Hubs allows 5).
    public var maximumReceiversPerPartition: Int

    public init(name: String? = nil, partitionCount: Int = 4, createdAt: Date = Date(), maximumReceiversPerPartition: Int = 5) {
        self.name = name
        self.partitionCount = partitionCount
        self.createdAt = createdAt
        self.maximumReceiversPerPartition = maximumReceiversPerPartition
    }
}
