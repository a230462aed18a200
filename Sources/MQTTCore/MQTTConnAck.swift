/// A CONNACK packet: the server's answer to CONNECT (MQTT 3.1.1 §3.2).
///
/// ```swift
/// let ack = MQTTConnAck(sessionPresent: false, returnCode: .accepted)
/// let bytes = try MQTTPacket.connAck(ack).encoded()   // [0x20, 0x02, 0x00, 0x00]
/// ```
public struct MQTTConnAck: Sendable, Hashable {
    /// Whether the server holds a stored session for this client. Must be `false` when the connection is
    /// refused (MQTT-3.2.2-4); the codec enforces this in both directions.
    public var sessionPresent: Bool
    /// Whether the connection was accepted, and if not, why.
    public var returnCode: MQTTConnectReturnCode

    /// Creates a CONNACK packet.
    public init(sessionPresent: Bool = false, returnCode: MQTTConnectReturnCode) {
        self.sessionPresent = sessionPresent
        self.returnCode = returnCode
    }
}

/// The connect return code of a CONNACK packet (MQTT 3.1.1 §3.2.2.3, Table 3.1). Values 6–255 are reserved
/// and rejected by the decoder as ``MQTTDecodeError/invalidConnAckReturnCode(_:)``.
public enum MQTTConnectReturnCode: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// 0: connection accepted.
    case accepted = 0
    /// 1: the server does not support the protocol level requested by the client.
    case unacceptableProtocolVersion = 1
    /// 2: the client identifier is well-formed UTF-8 but not allowed by the server.
    case identifierRejected = 2
    /// 3: the network connection has been made but the MQTT service is unavailable.
    case serverUnavailable = 3
    /// 4: the data in the user name or password is malformed.
    case badUsernameOrPassword = 4
    /// 5: the client is not authorized to connect.
    case notAuthorized = 5

    /// A short explanation, e.g. `"0x05 not authorized"`.
    public var description: String {
        let text = switch self {
        case .accepted: "connection accepted"
        case .unacceptableProtocolVersion: "unacceptable protocol version"
        case .identifierRejected: "identifier rejected"
        case .serverUnavailable: "server unavailable"
        case .badUsernameOrPassword: "bad user name or password"
        case .notAuthorized: "not authorized"
        }
        return "0x0\(rawValue) \(text)"
    }
}
