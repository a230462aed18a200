import MQTTCore
import NIOCore

/// Limits and timings of the hub's MQTT device endpoint; the defaults follow IoT Hub.
public struct MQTTEndpointConfiguration: Sendable {
    /// How long a new connection may take to send CONNECT and finish authentication.
    public var connectTimeout: TimeAmount = .seconds(30)
    /// The keep-alive the hub assumes at most (IoT Hub caps it at 1767 s); a CONNECT keep-alive of 0 means this.
    public var maximumKeepAliveSeconds: Int = 1767
    /// A connection silent for this multiple of its keep-alive is closed (IoT Hub: 1.5).
    public var keepAliveFactor: Double = 1.5
    /// Telemetry messages of one connection waiting to become durable; above this the hub stops reading from
    /// the connection until the store catches up (TCP backpressure instead of unbounded memory).
    public var maximumPendingTelemetry: Int = 256
    /// Packets a client may pipeline behind its CONNECT while the hub authenticates it.
    public var maximumPacketsBeforeConnAck: Int = 64
    /// Cloud-to-device messages in flight (delivered, not yet acknowledged) per connection.
    public var cloudToDeviceWindow: Int = 8
    /// The largest packet accepted: a 256 KiB message plus room for its topic and property bag.
    public var maximumPacketSize: Int = MQTTStreamDecoder.defaultMaximumPacketSize
    /// The largest packet accepted before the client authenticated, that is its CONNECT (client id, user name, SAS
    /// token and will): what a connection that has not logged in can make the hub buffer. A will message larger
    /// than this leaves less room; IoT Hub devices send wills of a few hundred bytes.
    public var maximumConnectPacketSize: Int = 32 * 1024
    /// Twin requests (GET and reported-property PATCH) of one connection being processed at once. At this many the
    /// hub stops reading from the connection; requests that were already read beyond it are answered with 429.
    public var maximumPendingTwinRequests: Int = 16
    /// Bytes the hub buffers for a connection that does not read what it is sent. Above the write buffer's high
    /// mark the hub stops reading from the connection; above this it closes it.
    public var maximumOutboundBytes: Int = 4 * 1024 * 1024
    /// The lock a delivered C2D message holds; unacknowledged deliveries older than this are redelivered.
    public var cloudToDeviceLock: TimeAmount = .seconds(60)
    /// Called with every packet a device sends, right after it is decoded and before the hub acts on it, on the
    /// connection's event loop; for diagnostics and tests (for example to check what a device SDK puts on the
    /// wire). `clientId` is the client id of the connection's CONNECT (the claimed one, whether or not it was
    /// accepted), `nil` for packets before CONNECT. Runs inline on the event loop: keep it cheap and non-blocking.
    /// `nil` (the default) costs nothing.
    public var packetObserver: (@Sendable (_ clientId: String?, _ packet: MQTTPacket) -> Void)?

    public init() {}

    /// The silence after which a connection with `keepAlive` (from its CONNECT) is closed.
    public func silenceLimit(keepAlive: UInt16) -> TimeAmount {
        let seconds = keepAlive == 0 ? maximumKeepAliveSeconds : min(Int(keepAlive), maximumKeepAliveSeconds)
        return .milliseconds(Int64((Double(seconds) * keepAliveFactor * 1000).rounded()))
    }
}
