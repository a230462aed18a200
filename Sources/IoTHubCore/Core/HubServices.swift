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
    public init(hostName: String, store: any HubStore, policies: [AccessPolicy], logger: Logger,
                eventRetention: Double = 86_400, eventMaximumBytes: Int64 = 1 << 30, metrics: HubMetrics = HubMetrics(),
                deviceCertificateAuthorities: [String] = [], admission: ConnectionAdmission = ConnectionAdmission(),
                throttling: ThrottlingConfiguration = .unlimited, fileUploads: FileUploadService? = nil,
                hostNameAliases: [String] = []) {
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
        registry = RegistryService(store: store, presence: presence, logger: logger)
        twins = TwinService(store: store, presence: presence, logger: logger, metrics: metrics)
        events = EventService(store: store, retention: eventRetention, maximumBytes: eventMaximumBytes, logger: logger,
                              metrics: metrics)
        methods = MethodDispatcher(presence: presence, logger: logger, metrics: metrics)
        cloudToDevice = CloudToDeviceService(store: store, presence: presence, logger: logger, metrics: metrics)
        sessions = DeviceSessionRegistry(store: store, presence: presence, methods: methods, metrics: metrics)
        certificates = CertificateService(store: store, logger: logger)
    }
}
