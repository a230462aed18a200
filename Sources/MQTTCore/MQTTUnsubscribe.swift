/// An UNSUBSCRIBE packet: a client's request to remove subscriptions (MQTT 3.1.1 §3.10).
/// Its fixed-header flags are `0b0010`.
///
/// ```swift
/// let bytes = try MQTTPacket.unsubscribe(MQTTUnsubscribe(packetId: 2, topicFilters: ["a/+", "#"])).encoded()
/// ```
public struct MQTTUnsubscribe: Sendable, Hashable {
    /// The packet identifier (non-zero).
    public var packetId: UInt16
    /// The topic filters to remove; at least one (MQTT-3.10.3-2), each a valid topic filter.
    public var topicFilters: [String]

    /// Creates an UNSUBSCRIBE packet.
    public init(packetId: UInt16, topicFilters: [String]) {
        self.packetId = packetId
        self.topicFilters = topicFilters
    }
}

/// An UNSUBACK packet: the server's answer to UNSUBSCRIBE (MQTT 3.1.1 §3.11).
public struct MQTTUnsubAck: Sendable, Hashable {
    /// The identifier of the UNSUBSCRIBE being acknowledged (non-zero).
    public var packetId: UInt16
    /// Creates an UNSUBACK packet.
    public init(packetId: UInt16) { self.packetId = packetId }
}
