import NIOCore

/// Limits and timings of the hub's AMQP device and service endpoints (AMQP over TLS, and opt-in plain AMQP).
public struct AMQPEndpointConfiguration: Sendable {
    /// How long a connection may take to finish SASL and open; then it is closed.
    public var connectTimeout: TimeAmount = .seconds(30)
    /// AMQP idle-time-out this side announces, in milliseconds (IoT Hub: 240 s); a peer silent for longer is
    /// closed, and Proton sends heartbeats to peers that announce one.
    public var idleTimeoutMilliseconds: UInt32 = 240_000
    /// The largest frame accepted; a larger one is a framing error that closes the connection.
    public var maximumFrameSize: UInt32 = 65_536
    /// Identities (devices and modules) one connection may carry, each with its own CBS token (IoT Hub: 995).
    public var maximumIdentitiesPerConnection: Int = 995
    /// The `max-message-size` of a telemetry link: room for a 256 KiB message and its properties. The official
    /// C SDK sends nothing on a link whose attach reply has none.
    public var maximumTelemetryMessageSize: UInt64 = 262_144 + 16_384
    /// The `max-message-size` of other receiving links (twin, method responses, CBS, service C2D).
    public var maximumMessageSize: UInt64 = 262_144
    /// Credit each telemetry link is given and kept at; deliveries not yet durable hold theirs.
    public var telemetryCredit: UInt32 = 64
    /// Credit of the other receiving links.
    public var requestCredit: UInt32 = 32
    /// The most C2D messages in flight to one identity at once, whatever credit its link gives.
    public var cloudToDeviceWindow: Int = 8
    /// How long a C2D message delivered stays locked before it can be delivered again.
    public var cloudToDeviceLock: TimeAmount = .seconds(60)
    /// Twin requests one identity may have in progress; more are answered 429.
    public var maximumPendingTwinRequests: Int = 16
    /// How often a feedback link with credit looks for new C2D feedback records.
    public var feedbackInterval: TimeAmount = .seconds(1)
    /// The most bytes waiting to be written to a peer that does not read; beyond it the connection is closed.
    public var maximumOutboundBytes: Int = 8 * 1024 * 1024
    /// Told every link a client attaches and every CBS put-token it sends (tests and diagnostics).
    public var linkObserver: AMQPLinkObserver?

    public init() {}
}
