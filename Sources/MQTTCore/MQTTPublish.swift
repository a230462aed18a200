/// A PUBLISH packet: an application message travelling from client to server or server to client
/// (MQTT 3.1.1 §3.3).
///
/// `packetId` must be present exactly when `qos` is above 0, and `dup` may only be set when `qos` is above 0
/// (MQTT-3.3.1-2); the encoder throws ``MQTTEncodeError`` otherwise.
///
/// ```swift
/// let publish = MQTTPublish(
///     topic: "devices/device-1/messages/events/",
///     payload: Array(#"{"temp":21.5}"#.utf8),
///     qos: .atLeastOnce,
///     packetId: 7
/// )
/// var out: [UInt8] = []
/// try MQTTPacket.publish(publish).encode(into: &out)
/// ```
public struct MQTTPublish: Sendable, Hashable {
    /// DUP flag: this may be a re-delivery of an earlier attempt. Only meaningful for QoS 1 and 2.
    public var dup: Bool
    /// The quality-of-service level of this delivery.
    public var qos: MQTTQoS
    /// RETAIN flag: the server stores the message for future subscribers.
    public var retain: Bool
    /// The topic name: non-empty, no `+` or `#`, at most 65535 UTF-8 bytes.
    public var topic: String
    /// The packet identifier; present (and non-zero) if and only if `qos` is 1 or 2.
    public var packetId: UInt16?
    /// The application message, possibly empty.
    public var payload: [UInt8]

    /// Creates a PUBLISH packet.
    public init(
        topic: String,
        payload: [UInt8],
        qos: MQTTQoS = .atMostOnce,
        packetId: UInt16? = nil,
        retain: Bool = false,
        dup: Bool = false
    ) {
        self.dup = dup
        self.qos = qos
        self.retain = retain
        self.topic = topic
        self.packetId = packetId
        self.payload = payload
    }
}
