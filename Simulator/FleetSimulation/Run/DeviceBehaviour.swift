import IoTHubProtocol

/// What every device of one group does, as an engine needs it: from a scenario group, or from `fleetsim run`'s
/// flags (a fixed number of messages each, after which the device is done).
public struct DeviceBehaviour: Sendable {
    public var telemetry: TelemetryBehaviour?
    /// Stop after this many acknowledged messages and disconnect (`nil`: send until the run stops sending).
    public var messageLimit: Int?
    public var twin: TwinBehaviour
    public var methods: [String: MethodBehaviour]
    public var cloudToDevice: CloudToDeviceBehaviour?
    public var lifecycle: Lifecycle
    /// The service side sends this group C2D messages.
    public var receivesCloudToDevice: Bool

    public init(telemetry: TelemetryBehaviour?, messageLimit: Int? = nil, twin: TwinBehaviour = .none,
                methods: [MethodBehaviour] = [], cloudToDevice: CloudToDeviceBehaviour? = nil,
                lifecycle: Lifecycle = .steady, receivesCloudToDevice: Bool = false) {
        self.telemetry = telemetry
        self.messageLimit = messageLimit
        self.twin = twin
        self.methods = Dictionary(methods.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.cloudToDevice = cloudToDevice
        self.lifecycle = lifecycle
        self.receivesCloudToDevice = receivesCloudToDevice || cloudToDevice != nil
    }

    /// A group's behaviour; `receivesCloudToDevice` when the service side sends C2D to it.
    public init(_ group: DeviceGroup, receivesCloudToDevice: Bool) {
        self.init(telemetry: group.telemetry, twin: group.twin, methods: group.methods,
                  cloudToDevice: group.cloudToDevice, lifecycle: group.lifecycle,
                  receivesCloudToDevice: receivesCloudToDevice)
    }

    /// Twin responses and desired updates are needed.
    var usesTwin: Bool { twin.reportOnConnect != nil || twin.echoDesired }

    /// The topic filters a device subscribes to once connected.
    var subscriptions: [DeviceSubscription] {
        var filters: [DeviceSubscription] = []
        if receivesCloudToDevice { filters.append(.cloudToDevice) }
        if !methods.isEmpty { filters.append(.methods) }
        if usesTwin { filters += [.twinResponses, .desiredProperties] }
        return filters
    }
}

/// One device of a run: its place in the whole fleet (for its payload seed and the service side's view of who
/// is online), its id and credentials, and its group's behaviour.
public struct PlannedDevice: Sendable {
    public var index: Int
    public var id: String
    /// Its SAS key (unused when it has a certificate).
    public var key: SharedAccessKey
    /// Its X.509 certificate and key, for an `auth: x509` group: it authenticates with TLS client authentication.
    public var certificate: FleetCertificateAuthority.DeviceCertificate?
    public var group: Int

    public init(index: Int, id: String, key: SharedAccessKey, certificate: FleetCertificateAuthority.DeviceCertificate? = nil,
                group: Int) {
        self.index = index
        self.id = id
        self.key = key
        self.certificate = certificate
        self.group = group
    }
}

/// The application property that carries a message's send time (Unix milliseconds) so the receiving side
/// measures end-to-end latency: telemetry read back at the service side, C2D and desired patches at the device.
enum FleetTimestamps {
    static let property = "fleetsim-sent"
    /// The desired-properties field with the service's send time.
    static let desiredField = "fleetsimSentAt"
}
