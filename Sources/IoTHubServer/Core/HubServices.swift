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
    public let logger: Logger

    /// - Parameter deviceCertificateAuthorities: PEM CA certificates trusted for CA-signed (`certificateAuthority`)
    ///   devices.
    public init(hostName: String, store: any HubStore, policies: [AccessPolicy], logger: Logger,
                eventRetention: Double = 86_400, eventMaximumBytes: Int64 = 1 << 30, metrics: HubMetrics = HubMetrics(),
                deviceCertificateAuthorities: [String] = []) {
        self.hostName = hostName
        self.store = store
        self.logger = logger
        self.metrics = metrics
        let presence = PresenceDirectory(metrics: metrics)
        self.presence = presence
        authenticator = HubAuthenticator(hostName: hostName, store: store, policies: policies,
                                         deviceCertificateAuthorities: deviceCertificateAuthorities)
        registry = RegistryService(store: store, presence: presence, logger: logger)
        twins = TwinService(store: store, presence: presence, logger: logger, metrics: metrics)
        events = EventService(store: store, retention: eventRetention, maximumBytes: eventMaximumBytes, logger: logger,
                              metrics: metrics)
        methods = MethodDispatcher(presence: presence, logger: logger, metrics: metrics)
        cloudToDevice = CloudToDeviceService(store: store, presence: presence, logger: logger, metrics: metrics)
        certificates = CertificateService(store: store, logger: logger)
    }
}
