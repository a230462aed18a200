import IoTHubProtocol
import Synchronization

/// Knows which device sessions are connected to this hub process.
///
/// One connection per identity: registering a new session ends the previous one. A multi-node hub replaces this
/// with a directory that routes to the node holding the session; services only use this interface.
public final class PresenceDirectory: Sendable {
    private let sessions = Mutex<[DeviceIdentity: any DeviceSession]>([:])
    private let metrics: HubMetrics?

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
        return previous
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
