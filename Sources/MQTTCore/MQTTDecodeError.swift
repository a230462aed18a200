/// Why ``MQTTStreamDecoder`` refused its input.
///
/// Every case is a protocol violation by the peer. MQTT 3.1.1 requires the receiver to close the network
/// connection (§4.8); after throwing one of these, the decoder is poisoned and rethrows it from every later
/// ``MQTTStreamDecoder/next()`` call. The one case a server answers before closing is
/// ``unsupportedProtocolLevel(_:)``: send CONNACK with
/// ``MQTTConnectReturnCode/unacceptableProtocolVersion`` (MQTT-3.1.2-2), then close.
///
/// ```swift
/// do {
///     while let packet = try decoder.next() { handle(packet) }
/// } catch MQTTDecodeError.unsupportedProtocolLevel {
///     send(.connAck(MQTTConnAck(returnCode: .unacceptableProtocolVersion))); close()
/// } catch {
///     log("closing: \(error)"); close()
/// }
/// ```
public enum MQTTDecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The remaining-length field ran past its maximum of four bytes (MQTT 3.1.1 §2.2.3).
    case malformedRemainingLength
    /// The fixed header announced a packet of `size` bytes in total (fixed header included), more than the
    /// decoder's ``MQTTStreamDecoder/maximumPacketSize`` `limit`. Reported before any of the body is buffered.
    case packetTooLarge(size: Int, limit: Int)
    /// The packet type nibble was 0 or 15, both reserved.
    case reservedPacketType(UInt8)
    /// The fixed-header flags do not match what the packet type requires (MQTT-2.2.2-1/2), or a PUBLISH with
    /// QoS 0 has its DUP flag set (MQTT-3.3.1-2).
    case invalidFixedHeaderFlags(packetType: MQTTPacketType, flags: UInt8)
    /// The remaining length ended before `field` was complete (e.g. a string whose length prefix points past
    /// the end of the packet, or a PUBACK with remaining length 1).
    case truncated(field: MQTTField)
    /// The packet's remaining length holds `count` bytes more than its fields use.
    case trailingBytes(packetType: MQTTPacketType, count: Int)
    /// `field` is not well-formed UTF-8 (overlong forms, surrogates U+D800–U+DFFF and code points above
    /// U+10FFFF are ill-formed) or contains U+0000 (MQTT 3.1.1 §1.5.3, MQTT-1.5.3-1/2).
    case invalidUTF8(field: MQTTField)
    /// A QoS value of 3 in a PUBLISH fixed header, or a SUBSCRIBE requested-QoS byte above 2 (its upper six
    /// bits are reserved, MQTT-3.8.3-4), carrying the offending value.
    case invalidQoS(UInt8)
    /// CONNECT named a protocol other than `"MQTT"` (or `"MQIsdp"`, see ``unsupportedProtocolLevel(_:)``).
    /// At most the first 64 bytes of the name are kept, decoded leniently.
    case invalidProtocolName(String)
    /// CONNECT asked for a protocol level other than 4 (MQTT 3.1.1), e.g. 5 (MQTT 5) or, with protocol name
    /// `"MQIsdp"`, 3 (MQTT 3.1). A server should answer CONNACK 0x01 before closing (MQTT-3.1.2-2).
    case unsupportedProtocolLevel(UInt8)
    /// The CONNECT flags byte is inconsistent; see ``ConnectFlagsReason``.
    case invalidConnectFlags(reason: ConnectFlagsReason)
    /// A packet identifier was 0 where a non-zero one is required (MQTT-2.3.1-1).
    case invalidPacketIdentifier(packetType: MQTTPacketType)
    /// A topic name (PUBLISH topic or will topic) contains `+` or `#` (MQTT-3.3.2-2).
    case wildcardInTopicName(String)
    /// A topic name (PUBLISH topic or will topic) is empty (MQTT-4.7.3-1).
    case emptyTopic
    /// A SUBSCRIBE or UNSUBSCRIBE without any topic filter (MQTT-3.8.3-3, MQTT-3.10.3-2), or a SUBACK
    /// without any return code.
    case emptySubscription(packetType: MQTTPacketType)
    /// A topic filter is empty or has a misplaced `#` or `+` (MQTT 3.1.1 §4.7.1).
    case invalidTopicFilter(String)
    /// A SUBACK return code other than 0x00, 0x01, 0x02 or 0x80.
    case invalidSubAckReturnCode(UInt8)
    /// A CONNACK return code above 5.
    case invalidConnAckReturnCode(UInt8)
    /// The CONNACK flags byte has a reserved bit set (MQTT 3.1.1 §3.2.2.1), or Session Present is set together
    /// with a non-zero return code (MQTT-3.2.2-4).
    case invalidConnAckFlags(UInt8)

    /// What is wrong with the flags byte of a CONNECT packet (MQTT 3.1.1 §3.1.2.3–3.1.2.9).
    public enum ConnectFlagsReason: Sendable, Hashable, CustomStringConvertible {
        /// Bit 0 is reserved and must be 0 (MQTT-3.1.2-3).
        case reservedBitSet
        /// Will QoS is not 0 although the Will Flag is 0 (MQTT-3.1.2-13).
        case willQoSWithoutWill
        /// Will Retain is set although the Will Flag is 0 (MQTT-3.1.2-15).
        case willRetainWithoutWill
        /// Will QoS is 3 (MQTT-3.1.2-14).
        case invalidWillQoS
        /// The Password Flag is set but the User Name Flag is not (MQTT-3.1.2-22).
        case passwordWithoutUsername

        /// A short explanation with the spec reference.
        public var description: String {
            switch self {
            case .reservedBitSet: "reserved bit 0 is set (MQTT-3.1.2-3)"
            case .willQoSWithoutWill: "will QoS is non-zero but the will flag is off (MQTT-3.1.2-13)"
            case .willRetainWithoutWill: "will retain is set but the will flag is off (MQTT-3.1.2-15)"
            case .invalidWillQoS: "will QoS is 3 (MQTT-3.1.2-14)"
            case .passwordWithoutUsername: "password flag set without user name flag (MQTT-3.1.2-22)"
            }
        }
    }

    /// A message meant for someone debugging a device or client: what was wrong and where in the spec.
    public var description: String {
        switch self {
        case .malformedRemainingLength:
            return "malformed remaining length: the continuation bit is set on the fourth length byte "
                + "(MQTT 3.1.1 §2.2.3); the peer is not speaking MQTT or the stream is corrupt"
        case let .packetTooLarge(size, limit):
            return "packet too large: the fixed header announces \(size) bytes, the limit is \(limit) bytes"
        case let .reservedPacketType(type):
            return "reserved control packet type \(type) in the fixed header; the peer is not speaking MQTT 3.1.1"
        case let .invalidFixedHeaderFlags(type, flags):
            if type == .publish {
                return "invalid PUBLISH flags \(Self.binary(flags)): DUP must be 0 when QoS is 0 (MQTT-3.3.1-2)"
            }
            return "invalid fixed-header flags \(Self.binary(flags)) for \(type): "
                + "must be \(Self.binary(type.requiredFlags ?? 0)) (MQTT-2.2.2-1)"
        case let .truncated(field):
            return "truncated packet: the remaining length ends inside the \(field)"
        case let .trailingBytes(type, count):
            return "\(type) has \(count) unexpected byte\(count == 1 ? "" : "s") after its last field"
        case let .invalidUTF8(field):
            return "the \(field) is not well-formed UTF-8 or contains U+0000 (MQTT 3.1.1 §1.5.3)"
        case let .invalidQoS(value):
            return "invalid QoS value \(value) (0x\(String(value, radix: 16))): only 0, 1 and 2 exist"
        case let .invalidProtocolName(name):
            return "CONNECT protocol name \"\(name)\" is not \"MQTT\" (MQTT-3.1.2-1)"
        case let .unsupportedProtocolLevel(level):
            let version = switch level {
            case 3: " (MQTT 3.1)"
            case 5: " (MQTT 5)"
            default: ""
            }
            return "CONNECT protocol level \(level)\(version) is not supported, only 4 (MQTT 3.1.1); "
                + "answer CONNACK 0x01 and close (MQTT-3.1.2-2)"
        case let .invalidConnectFlags(reason):
            return "invalid CONNECT flags: \(reason)"
        case let .invalidPacketIdentifier(type):
            return "\(type) has packet identifier 0; a non-zero identifier is required (MQTT-2.3.1-1)"
        case let .wildcardInTopicName(topic):
            return "topic name \"\(topic)\" contains a wildcard '+' or '#', which only topic filters may use (MQTT-3.3.2-2)"
        case .emptyTopic:
            return "empty topic name; topic names must be at least one character long (MQTT-4.7.3-1)"
        case let .emptySubscription(type):
            return "\(type) has no entries in its payload; at least one is required (MQTT-3.8.3-3, MQTT-3.10.3-2)"
        case let .invalidTopicFilter(filter):
            return "invalid topic filter \"\(filter)\": must be non-empty, '#' only as the whole last level, "
                + "'+' only as a whole level (MQTT 3.1.1 §4.7.1)"
        case let .invalidSubAckReturnCode(code):
            return "invalid SUBACK return code 0x\(String(code, radix: 16)); allowed are 0x00, 0x01, 0x02, 0x80"
        case let .invalidConnAckReturnCode(code):
            return "invalid CONNACK return code \(code); allowed are 0 to 5"
        case let .invalidConnAckFlags(flags):
            return "invalid CONNACK flags \(Self.binary(flags)): bits 7–1 are reserved, and session present "
                + "must be 0 when the connection is refused (MQTT-3.2.2-4)"
        }
    }

    private static func binary(_ value: UInt8) -> String {
        let digits = String(value, radix: 2)
        let width = value > 0x0F ? 8 : 4
        return "0b" + String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
