/// A PUBACK packet: the response to a QoS 1 PUBLISH (MQTT 3.1.1 §3.4).
///
/// ```swift
/// let bytes = try MQTTPacket.pubAck(MQTTPubAck(packetId: 10)).encoded()   // [0x40, 0x02, 0x00, 0x0A]
/// ```
public struct MQTTPubAck: Sendable, Hashable {
    /// The identifier of the PUBLISH being acknowledged (non-zero).
    public var packetId: UInt16
    /// Creates a PUBACK packet.
    public init(packetId: UInt16) { self.packetId = packetId }
}

/// A PUBREC packet: the first response to a QoS 2 PUBLISH (MQTT 3.1.1 §3.5).
public struct MQTTPubRec: Sendable, Hashable {
    /// The identifier of the PUBLISH being acknowledged (non-zero).
    public var packetId: UInt16
    /// Creates a PUBREC packet.
    public init(packetId: UInt16) { self.packetId = packetId }
}

/// A PUBREL packet: the response to PUBREC (MQTT 3.1.1 §3.6). Its fixed-header flags are `0b0010`.
public struct MQTTPubRel: Sendable, Hashable {
    /// The identifier of the PUBLISH being released (non-zero).
    public var packetId: UInt16
    /// Creates a PUBREL packet.
    public init(packetId: UInt16) { self.packetId = packetId }
}

/// A PUBCOMP packet: the response to PUBREL, completing QoS 2 (MQTT 3.1.1 §3.7).
public struct MQTTPubComp: Sendable, Hashable {
    /// The identifier of the PUBLISH being completed (non-zero).
    public var packetId: UInt16
    /// Creates a PUBCOMP packet.
    public init(packetId: UInt16) { self.packetId = packetId }
}
