/// A SUBSCRIBE packet: a client's request for one or more subscriptions (MQTT 3.1.1 §3.8).
/// Its fixed-header flags are `0b0010`.
///
/// ```swift
/// let subscribe = MQTTSubscribe(packetId: 1, subscriptions: [
///     MQTTSubscription(topicFilter: "devices/device-1/messages/devicebound/#", qos: .atLeastOnce),
///     MQTTSubscription(topicFilter: "$iothub/methods/POST/#", qos: .atMostOnce),
/// ])
/// let bytes = try MQTTPacket.subscribe(subscribe).encoded()
/// ```
public struct MQTTSubscribe: Sendable, Hashable {
    /// The packet identifier (non-zero).
    public var packetId: UInt16
    /// The requested subscriptions; at least one (MQTT-3.8.3-3).
    public var subscriptions: [MQTTSubscription]

    /// Creates a SUBSCRIBE packet.
    public init(packetId: UInt16, subscriptions: [MQTTSubscription]) {
        self.packetId = packetId
        self.subscriptions = subscriptions
    }
}

/// One topic filter of a ``MQTTSubscribe`` packet with the maximum QoS the client asks for.
public struct MQTTSubscription: Sendable, Hashable {
    /// The topic filter; must be valid according to ``MQTTTopicFilter/isValid(_:)``.
    public var topicFilter: String
    /// The requested QoS.
    public var qos: MQTTQoS

    /// Creates a subscription request.
    public init(topicFilter: String, qos: MQTTQoS) {
        self.topicFilter = topicFilter
        self.qos = qos
    }
}
