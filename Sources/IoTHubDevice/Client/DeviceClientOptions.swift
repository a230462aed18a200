import Logging

/// How a ``DeviceClient`` connects, retries, renews its token and queues messages.
///
/// The defaults suit a device on the internet talking to Azure IoT Hub; for the local companion hub set
/// ``trust`` to its CA file, or ``plainTCPPort`` for its opt-in plain MQTT port.
public struct DeviceClientOptions: Sendable {
    /// The protocol the client speaks to the hub (``DeviceClientTransport/mqtt`` unless set).
    public var transport: DeviceClientTransport = .mqtt
    /// Keep-alive in seconds (the hub drops a connection silent for 1.5 × this).
    public var keepAlive: Int = 60
    /// How reconnects back off, and when they stop.
    public var retryPolicy = RetryPolicy()
    /// Lifetime of SAS tokens the client creates from a key.
    public var sasTokenTTL: Duration = .seconds(3600)
    /// The fraction of a token's lifetime after which the client reconnects with a fresh token (0.8: at 80 %).
    public var tokenRenewalPoint: Double = 0.8
    /// Which certificate authorities the client trusts; ignored when ``tlsContext`` is set.
    public var trust: DeviceTLSContext.Trust = .system
    /// A TLS context shared with other clients (recommended for many clients: one `SSL_CTX` for all).
    public var tlsContext: DeviceTLSContext?
    /// The IoT Plug and Play model id announced in the user name.
    public var modelId: String?
    /// Product information sent as `DeviceClientType` in the user name.
    public var productInfo: String = "swift-iot-hub/0.1"
    /// Bounds of the outbound queue and what happens when it is full.
    public var queue = OutboundQueueOptions()
    /// How long ``DeviceClient/connect()`` and twin operations wait for the hub. Telemetry has no timeout: a
    /// message waits in the queue until it is acknowledged, the client gives up reconnecting, or the sending task
    /// is cancelled.
    public var operationTimeout: Duration = .seconds(60)
    /// How long one connection attempt may take, from DNS until the hub accepts it, before it counts as failed.
    public var connectTimeout: Duration = .seconds(30)
    /// The local address to connect from (for example to spread many clients over 127.0.0.x).
    public var bindAddress: String?
    /// Where to connect when it is not the hub host itself (an IoT Edge gateway, or a local address); the SAS
    /// token and user name still name the hub. A connection string's `GatewayHostName` sets this.
    public var gatewayHostName: String?
    /// MQTT over TLS port (8883 unless the hub says otherwise).
    public var port: Int = 8883
    /// AMQP over TLS port (5671 unless the hub says otherwise), for ``DeviceClientTransport/amqp``.
    public var amqpPort: Int = 5671
    /// The hub's HTTPS port (443 unless the hub says otherwise), for the device API that
    /// ``DeviceClient/uploadFile(named:from:options:)-(_,String,_)`` uses to start and complete uploads.
    public var httpsPort: Int = 443
    /// When set, connect over plain TCP to this port instead of TLS (the companion hub's opt-in local port for the
    /// client's transport: plain MQTT, or plain AMQP).
    public var plainTCPPort: Int?
    /// QoS 1 messages handed to the connection at once; the rest wait in the queue.
    public var maximumInFlight: Int = 32
    /// The event loop that drives this client; share one among many clients (one thread serves them all).
    public var eventLoop: DeviceEventLoop?
    /// Where the client logs.
    public var logger = Logger(label: "iothub.device")

    public init() {}
}

/// Exponential backoff with jitter and a cap, for reconnects.
public struct RetryPolicy: Sendable, Hashable {
    /// The delay before the first retry.
    public var initialDelay: Duration = .seconds(1)
    /// The longest delay between attempts.
    public var maximumDelay: Duration = .seconds(60)
    /// The factor by which the delay grows after each failed attempt.
    public var multiplier: Double = 2
    /// Random spread of each delay, as a fraction (0.2: ±20 %), so a fleet does not reconnect in lockstep.
    public var jitter: Double = 0.2
    /// Attempts before giving up; `nil` retries for ever.
    public var maximumAttempts: Int?
    /// Whether to keep retrying after the hub refused the credentials or the device is disabled (normally fatal).
    public var retryUnauthorized = false

    public init(initialDelay: Duration = .seconds(1), maximumDelay: Duration = .seconds(60), multiplier: Double = 2,
                jitter: Double = 0.2, maximumAttempts: Int? = nil, retryUnauthorized: Bool = false) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.multiplier = multiplier
        self.jitter = jitter
        self.maximumAttempts = maximumAttempts
        self.retryUnauthorized = retryUnauthorized
    }

    /// No reconnects: the first failure ends the connection.
    public static let never = RetryPolicy(maximumAttempts: 0)

    /// The delay before retry number `attempt` (1-based), with jitter from `random` (0..<1).
    public func delay(beforeAttempt attempt: Int, random: Double) -> Duration {
        let base = Double(initialDelay.components.seconds) + Double(initialDelay.components.attoseconds) / 1e18
        let cap = Double(maximumDelay.components.seconds) + Double(maximumDelay.components.attoseconds) / 1e18
        let grown = min(cap, base * pow(multiplier, Double(max(0, attempt - 1))))
        let spread = grown * jitter * (random * 2 - 1)
        return .milliseconds(Int64(max(0, min(cap, grown + spread)) * 1000))
    }

    private func pow(_ base: Double, _ exponent: Double) -> Double {
        var result = 1.0
        for _ in 0..<Int(min(exponent, 64)) { result *= base }
        return result
    }
}

/// Bounds of the outbound queue: messages waiting to be sent (while offline, or beyond the in-flight window).
public struct OutboundQueueOptions: Sendable, Hashable {
    /// What ``DeviceClient/send(_:)`` does when the queue is full.
    public enum Policy: Sendable, Hashable {
        /// Fail the new message with ``DeviceClientError/queueFull(messages:bytes:)``.
        case failFast
        /// Evict the oldest queued message (its sender gets ``DeviceClientError/queueFull(messages:bytes:)``).
        case dropOldest
        /// Suspend the sender until there is room (cancellable; telemetry has no timeout, see
        /// ``DeviceClientOptions/operationTimeout``).
        case wait
    }

    /// The most messages queued.
    public var maximumMessages: Int = 1000
    /// The most payload and property bytes queued.
    public var maximumBytes: Int = 16 << 20
    /// What to do when full.
    public var policy: Policy = .wait

    public init(maximumMessages: Int = 1000, maximumBytes: Int = 16 << 20, policy: Policy = .wait) {
        self.maximumMessages = maximumMessages
        self.maximumBytes = maximumBytes
        self.policy = policy
    }
}
