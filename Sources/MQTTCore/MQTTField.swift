/// Names a field of an MQTT packet, so that ``MQTTDecodeError`` and ``MQTTEncodeError`` can say exactly which
/// part of a packet was wrong.
public enum MQTTField: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// CONNECT: the protocol name (`"MQTT"`).
    case protocolName
    /// CONNECT: the protocol level byte (4 for MQTT 3.1.1).
    case protocolLevel
    /// CONNECT: the connect-flags byte.
    case connectFlags
    /// CONNECT: the keep-alive interval.
    case keepAlive
    /// CONNECT: the client identifier.
    case clientId
    /// CONNECT: the will topic.
    case willTopic
    /// CONNECT: the will message.
    case willPayload
    /// CONNECT: the user name.
    case username
    /// CONNECT: the password.
    case password
    /// CONNACK: the connect-acknowledge flags byte.
    case connAckFlags
    /// CONNACK: the connect return code.
    case connectReturnCode
    /// PUBLISH: the topic name.
    case topicName
    /// The 16-bit packet identifier of PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK,
    /// UNSUBSCRIBE or UNSUBACK.
    case packetIdentifier
    /// SUBSCRIBE / UNSUBSCRIBE: a topic filter.
    case topicFilter
    /// SUBSCRIBE: the requested-QoS byte following a topic filter.
    case requestedQoS
    /// SUBACK: a return code.
    case subAckReturnCode

    /// The field's name as used in the specification, e.g. `"client identifier"`.
    public var description: String {
        switch self {
        case .protocolName: "protocol name"
        case .protocolLevel: "protocol level"
        case .connectFlags: "connect flags"
        case .keepAlive: "keep alive"
        case .clientId: "client identifier"
        case .willTopic: "will topic"
        case .willPayload: "will message"
        case .username: "user name"
        case .password: "password"
        case .connAckFlags: "connect acknowledge flags"
        case .connectReturnCode: "connect return code"
        case .topicName: "topic name"
        case .packetIdentifier: "packet identifier"
        case .topicFilter: "topic filter"
        case .requestedQoS: "requested QoS"
        case .subAckReturnCode: "SUBACK return code"
        }
    }
}
