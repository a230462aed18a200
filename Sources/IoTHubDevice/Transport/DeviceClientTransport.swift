/// The protocol a ``DeviceClient`` speaks to the hub, chosen with ``DeviceClientOptions/transport``.
///
/// A struct with static members rather than an enum, so that transports can be added (AMQP is planned) without
/// breaking code that uses this type.
///
/// ```swift
/// var options = DeviceClientOptions()
/// options.transport = .mqtt   // the default
/// ```
public struct DeviceClientTransport: Sendable, Hashable, CustomStringConvertible {
    /// MQTT 3.1.1 through libmosquitto: over TLS to ``DeviceClientOptions/port`` (8883), or over plain TCP to
    /// ``DeviceClientOptions/plainTCPPort``. The default.
    public static let mqtt = DeviceClientTransport(name: "MQTT") { context throws(DeviceClientError) in
        MQTTDeviceTransport(context: context)
    }

    /// The protocol's name, for logs.
    public let name: String
    /// Creates the client's transport; a new transport adds a static member that passes its own factory here.
    let make: @Sendable (DeviceTransportContext) throws(DeviceClientError) -> any DeviceTransport

    init(name: String,
         make: @escaping @Sendable (DeviceTransportContext) throws(DeviceClientError) -> any DeviceTransport) {
        self.name = name
        self.make = make
    }

    public var description: String { name }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.name == rhs.name }

    public func hash(into hasher: inout Hasher) { hasher.combine(name) }
}

/// What a transport is created with.
struct DeviceTransportContext {
    /// The loop the client (and so the transport) runs on.
    var loop: DeviceEventLoop
    var options: DeviceClientOptions
    /// The TLS context, or `nil` for plain TCP.
    var tls: DeviceTLSContext?
}
