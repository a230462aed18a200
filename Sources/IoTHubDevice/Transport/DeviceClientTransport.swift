/// The protocol a ``DeviceClient`` speaks to the hub, chosen with ``DeviceClientOptions/transport``.
///
/// A struct with static members rather than an enum, so that transports can be added without breaking code that
/// uses this type.
///
/// ```swift
/// var options = DeviceClientOptions()
/// options.transport = .mqtt   // the default
/// options.transport = .amqp   // AMQP 1.0, a connection of its own
/// options.transport = .amqp(sharing: pool)   // AMQP 1.0, one connection for up to 995 devices
/// ```
public struct DeviceClientTransport: Sendable, Hashable, CustomStringConvertible {
    /// MQTT 3.1.1 through libmosquitto: over TLS to ``DeviceClientOptions/port`` (8883), or over plain TCP to
    /// ``DeviceClientOptions/plainTCPPort``. The default.
    public static let mqtt = DeviceClientTransport(name: "MQTT") { context throws(DeviceClientError) in
        MQTTDeviceTransport(context: context)
    }

    /// AMQP 1.0 through Qpid Proton, as the official C SDK speaks it: over TLS to ``DeviceClientOptions/amqpPort``
    /// (5671), or over plain TCP to ``DeviceClientOptions/plainTCPPort``. The client has a connection of its own;
    /// its SAS token is put on the `$cbs` node and renewed there, without reconnecting.
    public static let amqp = DeviceClientTransport(name: "AMQP") { context throws(DeviceClientError) in
        AMQPDeviceTransport(context: context, group: AMQPConnectionGroup(loop: context.loop, identitiesPerConnection: 1))
    }

    /// AMQP 1.0 over the connections of `pool`, shared with the pool's other clients (see ``AMQPConnectionPool``).
    ///
    /// The client runs on the pool's event loop; setting ``DeviceClientOptions/eventLoop`` to another loop is an
    /// error.
    public static func amqp(sharing pool: AMQPConnectionPool) -> DeviceClientTransport {
        DeviceClientTransport(name: "AMQP (shared)", eventLoop: pool.eventLoop) { context throws(DeviceClientError) in
            guard context.loop === pool.eventLoop else {
                throw .invalidConfiguration("a client of an AMQPConnectionPool runs on the pool's event loop; "
                                            + "leave options.eventLoop unset or set it to pool.eventLoop")
            }
            return AMQPDeviceTransport(context: context, group: pool.group.value)
        }
    }

    /// The protocol's name, for logs.
    public let name: String
    /// The loop the transport's clients must run on (a shared connection's), if it has one.
    let eventLoop: DeviceEventLoop?
    /// Creates the client's transport; a new transport adds a static member that passes its own factory here.
    let make: @Sendable (DeviceTransportContext) throws(DeviceClientError) -> any DeviceTransport

    init(name: String, eventLoop: DeviceEventLoop? = nil,
         make: @escaping @Sendable (DeviceTransportContext) throws(DeviceClientError) -> any DeviceTransport) {
        self.name = name
        self.eventLoop = eventLoop
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
