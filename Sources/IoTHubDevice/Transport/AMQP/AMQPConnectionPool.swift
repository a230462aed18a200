/// One AMQP connection shared by many ``DeviceClient``s: the way a gateway or a fleet carries thousands of
/// devices over a few sockets, as IoT Hub's AMQP endpoint allows (up to 995 devices and modules per connection).
///
/// Every client that uses ``DeviceClientTransport/amqp(sharing:)`` with the same pool joins a connection of the
/// pool: each device puts its own SAS token on the connection's `$cbs` node and attaches its own links on the
/// connection's one session. When a connection is full, the next client opens another one. When a connection is
/// lost, its devices reconnect with their own backoff, but the first one to try opens the new connection and the
/// others join it: N devices reconnecting open one socket, not N. Queued messages wait in each client's queue and
/// go out once the device is back.
///
/// All clients of a pool run on the pool's ``eventLoop`` (a client whose options name no loop takes it).
///
/// ```swift
/// let pool = AMQPConnectionPool()
/// var options = DeviceClientOptions()
/// options.transport = .amqp(sharing: pool)
/// let clients = try devices.map { device in
///     try DeviceClient(hostName: "myhub.azure-devices.net", deviceId: device.id, sharedAccessKey: device.key,
///                      options: options)
/// }
/// ```
public final class AMQPConnectionPool: Sendable {
    /// The most identities one connection may carry (IoT Hub: 995).
    public static let maximumIdentitiesPerConnection = 995

    /// The loop that drives the pool's connections and its clients.
    public let eventLoop: DeviceEventLoop
    /// The most devices and modules one of the pool's connections carries.
    public let identitiesPerConnection: Int
    let group: LoopHandoff<AMQPConnectionGroup>

    /// Creates an empty pool; connections open as clients connect.
    /// - Parameters:
    ///   - eventLoop: the loop of the pool's connections and clients.
    ///   - identitiesPerConnection: devices and modules per connection, at most
    ///     ``maximumIdentitiesPerConnection``.
    public init(eventLoop: DeviceEventLoop = .shared, identitiesPerConnection: Int = maximumIdentitiesPerConnection) {
        self.eventLoop = eventLoop
        self.identitiesPerConnection = min(max(1, identitiesPerConnection), Self.maximumIdentitiesPerConnection)
        self.group = LoopHandoff(AMQPConnectionGroup(loop: eventLoop, identitiesPerConnection: self.identitiesPerConnection))
    }

    /// The connections open or opening now, and how many identities each carries.
    public var connections: [Int] {
        get async {
            let group = self.group
            return (try? await eventLoop.submit { group.value.memberCounts }) ?? []
        }
    }

    /// Shuts the socket of connection `index` down under it, as a network failure would (for tests and drills).
    func shutdownSocket(ofConnection index: Int) async {
        let group = self.group
        _ = try? await eventLoop.submit { group.value.shutdownSocket(index) }
    }
}

/// The loop-confined state of a pool (or of one client's own connection): its connections, by key.
final class AMQPConnectionGroup {
    let loop: DeviceEventLoop
    let identitiesPerConnection: Int
    private var connections: [AMQPConnection] = []
    private var containerSequence = 0

    init(loop: DeviceEventLoop, identitiesPerConnection: Int) {
        self.loop = loop
        self.identitiesPerConnection = identitiesPerConnection
    }

    /// A connection with room for one more identity: an open or opening one, or a new one.
    func connection(for settings: AMQPConnection.Settings) -> AMQPConnection {
        let key = settings.key
        if let existing = connections.first(where: {
            $0.key == key && $0.isAcceptingMembers && $0.memberCount < identitiesPerConnection
        }) {
            return existing
        }
        var settings = settings
        containerSequence += 1
        settings.containerId += "-\(containerSequence)"
        let connection = AMQPConnection(settings: settings, loop: loop)
        connection.onFinished = { [weak self] finished in self?.connections.removeAll { $0 === finished } }
        connections.append(connection)
        connection.start()
        return connection
    }

    var memberCounts: [Int] {
        connections.filter(\.isAcceptingMembers).map(\.memberCount)
    }

    func shutdownSocket(_ index: Int) {
        let open = connections.filter(\.isAcceptingMembers)
        guard open.indices.contains(index) else { return }
        open[index].shutdownSocketForTesting()
    }
}
