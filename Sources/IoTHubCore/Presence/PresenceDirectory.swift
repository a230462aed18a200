import IoTHubProtocol
import Synchronization

/// Knows which device sessions are connected to this hub process.
///
/// One connection per identity: registering a new session ends the previous one. A multi-node hub replaces this
/// with a directory that routes to the node holding the session; services only use this interface.
public final class PresenceDirectory: Sendable {
    private let sessions = Mutex<[DeviceIdentity: any DeviceSession]>([:])
    private let metrics: HubMetrics?
    private let changes = PresenceChanges()

    public init(metrics: HubMetrics? = nil) {
        self.metrics = metrics
    }

    /// Registers `session`, ending and returning any previous session of the same identity.
    @discardableResult
    public func register(_ session: any DeviceSession) -> (any DeviceSession)? {
        let previous = sessions.withLock { table in
            let previous = table[session.identity]
            table[session.identity] = session
            metrics?.setConnectedDevices(table.count)
            return previous
        }
        if let previous, previous !== session { previous.end(.takenOver) }
        if let observable = session as? any ObservableDeviceSession {
            let identity = session.identity
            observable.onSubscriptionsChanged { [weak self] in self?.changes.changed(identity) }
        }
        changes.changed(session.identity)
        return previous
    }

    /// Waits until `identity` has a session that satisfies `isReady`, checking at each change of its presence or
    /// subscriptions; `nil` when none does by `deadline`.
    public func waitForSession(_ identity: DeviceIdentity, until deadline: ContinuousClock.Instant,
                               where isReady: @escaping @Sendable (any DeviceSession) -> Bool) async -> (any DeviceSession)? {
        while true {
            let generation = changes.generation(of: identity)
            if let session = session(for: identity), isReady(session) { return session }
            guard ContinuousClock.now < deadline else { return nil }
            await changes.wait(for: identity, after: generation, until: deadline)
        }
    }

    /// Removes `session` if it is still the registered one; `true` when it was.
    @discardableResult
    public func unregister(_ session: any DeviceSession) -> Bool {
        sessions.withLock { table in
            guard let current = table[session.identity], current === session else { return false }
            table[session.identity] = nil
            metrics?.setConnectedDevices(table.count)
            return true
        }
    }

    /// The connected session of an identity.
    public func session(for identity: DeviceIdentity) -> (any DeviceSession)? {
        sessions.withLock { $0[identity] }
    }

    /// Sessions of a device and all its modules.
    public func sessions(ofDevice deviceId: String) -> [any DeviceSession] {
        sessions.withLock { table in table.values.filter { $0.identity.deviceId == deviceId } }
    }

    /// Number of connected identities.
    public var count: Int { sessions.withLock { $0.count } }

    /// Every connected session.
    public var all: [any DeviceSession] { sessions.withLock { Array($0.values) } }
}
