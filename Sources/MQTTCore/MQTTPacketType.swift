/// The kind of an MQTT 3.1.1 control packet: the upper four bits of the first byte of its fixed header
/// (MQTT 3.1.1 §2.2.1).
///
/// Values 0 and 15 are reserved and are never represented by this type; the decoder reports them as
/// ``MQTTDecodeError/reservedPacketType(_:)``.
///
/// ```swift
/// let type = MQTTPacketType(rawValue: 0xC0 >> 4)   // .pingReq
/// print(type!)                                      // "PINGREQ"
/// ```
public enum MQTTPacketType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// CONNECT: client request to connect to the server.
    case connect = 1
    /// CONNACK: connect acknowledgment.
    case connAck = 2
    /// PUBLISH: publish message.
    case publish = 3
    /// PUBACK: publish acknowledgment (QoS 1).
    case pubAck = 4
    /// PUBREC: publish received (QoS 2, part 1).
    case pubRec = 5
    /// PUBREL: publish release (QoS 2, part 2).
    case pubRel = 6
    /// PUBCOMP: publish complete (QoS 2, part 3).
    case pubComp = 7
    /// SUBSCRIBE: client subscribe request.
    case subscribe = 8
    /// SUBACK: subscribe acknowledgment.
    case subAck = 9
    /// UNSUBSCRIBE: client unsubscribe request.
    case unsubscribe = 10
    /// UNSUBACK: unsubscribe acknowledgment.
    case unsubAck = 11
    /// PINGREQ: ping request.
    case pingReq = 12
    /// PINGRESP: ping response.
    case pingResp = 13
    /// DISCONNECT: client is disconnecting.
    case disconnect = 14

    /// The packet's name as written in the specification, e.g. `"PUBACK"`.
    public var description: String {
        switch self {
        case .connect: "CONNECT"
        case .connAck: "CONNACK"
        case .publish: "PUBLISH"
        case .pubAck: "PUBACK"
        case .pubRec: "PUBREC"
        case .pubRel: "PUBREL"
        case .pubComp: "PUBCOMP"
        case .subscribe: "SUBSCRIBE"
        case .subAck: "SUBACK"
        case .unsubscribe: "UNSUBSCRIBE"
        case .unsubAck: "UNSUBACK"
        case .pingReq: "PINGREQ"
        case .pingResp: "PINGRESP"
        case .disconnect: "DISCONNECT"
        }
    }

    /// The fixed-header flags (lower four bits of the first byte) this type must carry, or `nil` for PUBLISH,
    /// whose flags hold DUP, QoS and RETAIN (MQTT 3.1.1 §2.2.2, Table 2.2).
    public var requiredFlags: UInt8? {
        switch self {
        case .publish: nil
        case .pubRel, .subscribe, .unsubscribe: 0b0010
        default: 0
        }
    }

    /// The exact remaining length of packets of this type when it is fixed, else `nil`.
    var fixedRemainingLength: Int? {
        switch self {
        case .connAck, .pubAck, .pubRec, .pubRel, .pubComp, .unsubAck: 2
        case .pingReq, .pingResp, .disconnect: 0
        case .connect, .publish, .subscribe, .subAck, .unsubscribe: nil
        }
    }
}
