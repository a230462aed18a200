/// An MQTT 3.1.1 control packet, in either direction (MQTT 3.1.1 §3).
///
/// Encode with ``encode(into:)`` / ``encoded()`` (or an ``MQTTPacketEncoder`` with a size limit), and decode a
/// byte stream with ``MQTTStreamDecoder``:
///
/// ```swift
/// // Client side: send CONNECT, then read what the server answers.
/// var out: [UInt8] = []
/// try MQTTPacket.connect(MQTTConnect(clientId: "d1", keepAlive: 60)).encode(into: &out)
/// try MQTTPacket.publish(MQTTPublish(topic: "a/b", payload: [1, 2, 3], qos: .atLeastOnce, packetId: 1))
///     .encode(into: &out)
/// // … write `out` to the socket …
///
/// var decoder = MQTTStreamDecoder()
/// decoder.append(bytesReadFromSocket)
/// while let packet = try decoder.next() {
///     switch packet {
///     case .connAck(let ack) where ack.returnCode == .accepted: print("connected")
///     case .pubAck(let ack): print("delivered", ack.packetId)
///     default: break
///     }
/// }
/// ```
///
/// `description` never includes password bytes or payload contents, so packets can be logged.
public enum MQTTPacket: Sendable, Hashable, CustomStringConvertible {
    /// CONNECT (client → server).
    case connect(MQTTConnect)
    /// CONNACK (server → client).
    case connAck(MQTTConnAck)
    /// PUBLISH (both directions).
    case publish(MQTTPublish)
    /// PUBACK (both directions).
    case pubAck(MQTTPubAck)
    /// PUBREC (both directions).
    case pubRec(MQTTPubRec)
    /// PUBREL (both directions).
    case pubRel(MQTTPubRel)
    /// PUBCOMP (both directions).
    case pubComp(MQTTPubComp)
    /// SUBSCRIBE (client → server).
    case subscribe(MQTTSubscribe)
    /// SUBACK (server → client).
    case subAck(MQTTSubAck)
    /// UNSUBSCRIBE (client → server).
    case unsubscribe(MQTTUnsubscribe)
    /// UNSUBACK (server → client).
    case unsubAck(MQTTUnsubAck)
    /// PINGREQ (client → server); no fields.
    case pingReq
    /// PINGRESP (server → client); no fields.
    case pingResp
    /// DISCONNECT (client → server); no fields.
    case disconnect

    /// The control packet type of this packet.
    public var packetType: MQTTPacketType {
        switch self {
        case .connect: .connect
        case .connAck: .connAck
        case .publish: .publish
        case .pubAck: .pubAck
        case .pubRec: .pubRec
        case .pubRel: .pubRel
        case .pubComp: .pubComp
        case .subscribe: .subscribe
        case .subAck: .subAck
        case .unsubscribe: .unsubscribe
        case .unsubAck: .unsubAck
        case .pingReq: .pingReq
        case .pingResp: .pingResp
        case .disconnect: .disconnect
        }
    }

    /// The packet identifier, for the packet types that carry one (PUBLISH only when QoS > 0).
    public var packetId: UInt16? {
        switch self {
        case .publish(let p): p.packetId
        case .pubAck(let p): p.packetId
        case .pubRec(let p): p.packetId
        case .pubRel(let p): p.packetId
        case .pubComp(let p): p.packetId
        case .subscribe(let p): p.packetId
        case .subAck(let p): p.packetId
        case .unsubscribe(let p): p.packetId
        case .unsubAck(let p): p.packetId
        case .connect, .connAck, .pingReq, .pingResp, .disconnect: nil
        }
    }

    /// A one-line summary for logs, e.g. `PUBLISH(topic: "a/b", QoS 1, id: 7, 12 bytes)`. Password bytes and
    /// payload contents are never printed.
    public var description: String {
        switch self {
        case .connect(let c):
            var parts = ["clientId: \"\(c.clientId)\"", "cleanSession: \(c.cleanSession)", "keepAlive: \(c.keepAlive)"]
            if let username = c.username { parts.append("username: \"\(username)\"") }
            if let password = c.password { parts.append("password: <\(password.count) bytes>") }
            if let will = c.will {
                parts.append("will: \"\(will.topic)\" \(will.qos)\(will.retain ? " retain" : "") \(will.payload.count) bytes")
            }
            return "CONNECT(\(parts.joined(separator: ", ")))"
        case .connAck(let a):
            return "CONNACK(sessionPresent: \(a.sessionPresent), \(a.returnCode))"
        case .publish(let p):
            var parts = ["topic: \"\(p.topic)\"", "\(p.qos)"]
            if let id = p.packetId { parts.append("id: \(id)") }
            if p.retain { parts.append("retain") }
            if p.dup { parts.append("dup") }
            parts.append("\(p.payload.count) bytes")
            return "PUBLISH(\(parts.joined(separator: ", ")))"
        case .subscribe(let s):
            let filters = s.subscriptions.map { "\"\($0.topicFilter)\" \($0.qos)" }.joined(separator: ", ")
            return "SUBSCRIBE(id: \(s.packetId), \(filters))"
        case .subAck(let s):
            return "SUBACK(id: \(s.packetId), \(s.returnCodes.map(\.description).joined(separator: ", ")))"
        case .unsubscribe(let u):
            return "UNSUBSCRIBE(id: \(u.packetId), \(u.topicFilters.map { "\"\($0)\"" }.joined(separator: ", ")))"
        case .pubAck(let p): return "PUBACK(id: \(p.packetId))"
        case .pubRec(let p): return "PUBREC(id: \(p.packetId))"
        case .pubRel(let p): return "PUBREL(id: \(p.packetId))"
        case .pubComp(let p): return "PUBCOMP(id: \(p.packetId))"
        case .unsubAck(let p): return "UNSUBACK(id: \(p.packetId))"
        case .pingReq, .pingResp, .disconnect: return packetType.description
        }
    }
}
