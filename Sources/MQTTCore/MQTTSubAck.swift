/// A SUBACK packet: the server's answer to SUBSCRIBE, with one return code per requested topic filter, in
/// the same order (MQTT 3.1.1 §3.9).
///
/// ```swift
/// let ack = MQTTSubAck(packetId: 1, returnCodes: [.grantedQoS1, .failure])
/// let bytes = try MQTTPacket.subAck(ack).encoded()   // [0x90, 0x04, 0x00, 0x01, 0x01, 0x80]
/// ```
public struct MQTTSubAck: Sendable, Hashable {
    /// The identifier of the SUBSCRIBE being acknowledged (non-zero).
    public var packetId: UInt16
    /// One return code per topic filter of the SUBSCRIBE; never empty.
    public var returnCodes: [MQTTSubAckReturnCode]

    /// Creates a SUBACK packet.
    public init(packetId: UInt16, returnCodes: [MQTTSubAckReturnCode]) {
        self.packetId = packetId
        self.returnCodes = returnCodes
    }
}

/// A SUBACK return code (MQTT 3.1.1 §3.9.3): the QoS granted, or failure. Other values are rejected by the
/// decoder as ``MQTTDecodeError/invalidSubAckReturnCode(_:)``.
public enum MQTTSubAckReturnCode: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// 0x00: success, maximum QoS 0.
    case grantedQoS0 = 0x00
    /// 0x01: success, maximum QoS 1.
    case grantedQoS1 = 0x01
    /// 0x02: success, maximum QoS 2.
    case grantedQoS2 = 0x02
    /// 0x80: the subscription was refused.
    case failure = 0x80

    /// The return code granting `qos`.
    public init(granted qos: MQTTQoS) {
        switch qos {
        case .atMostOnce: self = .grantedQoS0
        case .atLeastOnce: self = .grantedQoS1
        case .exactlyOnce: self = .grantedQoS2
        }
    }

    /// The QoS granted, or `nil` for ``failure``.
    public var grantedQoS: MQTTQoS? {
        self == .failure ? nil : MQTTQoS(rawValue: rawValue)
    }

    /// `"granted QoS 1"` or `"failure"`.
    public var description: String {
        grantedQoS.map { "granted \($0)" } ?? "failure"
    }
}
