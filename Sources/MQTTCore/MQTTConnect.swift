/// A CONNECT packet: the first packet a client sends after opening the network connection
/// (MQTT 3.1.1 §3.1).
///
/// The protocol name and level are not stored: the encoder always writes `"MQTT"` / level 4, and the decoder
/// only accepts those (see ``MQTTDecodeError/unsupportedProtocolLevel(_:)``).
///
/// ```swift
/// let connect = MQTTConnect(
///     clientId: "device-1",
///     cleanSession: true,
///     keepAlive: 60,
///     username: "hub.local/device-1/?api-version=2021-04-12",
///     password: Array("SharedAccessSignature sr=…".utf8),
///     will: MQTTWill(topic: "devices/device-1/status", payload: Array("offline".utf8), qos: .atLeastOnce)
/// )
/// let bytes = try MQTTPacket.connect(connect).encoded()
/// ```
public struct MQTTConnect: Sendable, Hashable {
    /// The client identifier. May be empty only together with `cleanSession == true` (a server rule, not
    /// checked by the codec).
    public var clientId: String
    /// The Clean Session flag: discard any previous session and start a new one.
    public var cleanSession: Bool
    /// The keep-alive interval in seconds; 0 turns the keep-alive mechanism off.
    public var keepAlive: UInt16
    /// The user name, if any.
    public var username: String?
    /// The password bytes, if any. MQTT 3.1.1 allows a password only together with a user name.
    public var password: [UInt8]?
    /// The will message the server publishes if the connection is lost without a DISCONNECT.
    public var will: MQTTWill?

    /// Creates a CONNECT packet.
    public init(
        clientId: String,
        cleanSession: Bool = true,
        keepAlive: UInt16 = 60,
        username: String? = nil,
        password: [UInt8]? = nil,
        will: MQTTWill? = nil
    ) {
        self.clientId = clientId
        self.cleanSession = cleanSession
        self.keepAlive = keepAlive
        self.username = username
        self.password = password
        self.will = will
    }
}

/// The will message of a ``MQTTConnect`` packet (MQTT 3.1.1 §3.1.2.5–3.1.2.7, §3.1.3.2–3.1.3.3).
public struct MQTTWill: Sendable, Hashable {
    /// The topic the will is published to: a topic name, so non-empty and without wildcards.
    public var topic: String
    /// The will message (at most 65535 bytes).
    public var payload: [UInt8]
    /// The QoS the will is published with.
    public var qos: MQTTQoS
    /// Whether the will is published as a retained message.
    public var retain: Bool

    /// Creates a will message.
    public init(topic: String, payload: [UInt8], qos: MQTTQoS = .atMostOnce, retain: Bool = false) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
    }
}

/// Bits of the CONNECT flags byte (MQTT 3.1.1 §3.1.2.3).
enum MQTTConnectFlagBits {
    static let reserved: UInt8 = 0x01
    static let cleanSession: UInt8 = 0x02
    static let will: UInt8 = 0x04
    static let willQoSMask: UInt8 = 0x18
    static let willQoSShift: UInt8 = 3
    static let willRetain: UInt8 = 0x20
    static let password: UInt8 = 0x40
    static let username: UInt8 = 0x80
}
