import Foundation
import IoTHubProtocol

/// What the hub does when a device or module session opens and closes, whatever head carries it (an MQTT
/// connection, one identity of a multiplexed AMQP connection): presence and takeover, the registry's connection
/// state, metrics, and the end of method calls waiting on it.
///
/// ```swift
/// let lease = services.sessions.opened(session, protocol: "amqp")
/// …
/// services.sessions.closed(lease)   // when the identity's session ends
/// ```
public struct DeviceSessionRegistry: Sendable {
    let services: HubServices

    /// Registers a session that authenticated: it takes over any other session of its identity (which ends with
    /// ``SessionEndReason/takenOver``), and the registry records it as connected.
    public func opened(_ session: any DeviceSession, protocol protocolName: String) -> DeviceSessionLease {
        services.presence.register(session)
        services.metrics.connection(protocol: protocolName, accepted: true)
        let (store, identity) = (services.store, session.identity)
        let recorded = Task { _ = try? await store.recordConnection(identity, state: .connected, at: Date()) }
        return DeviceSessionLease(session: session, connectionRecorded: recorded)
    }

    /// Ends a session: if it is still its identity's current one (not taken over), presence forgets it, method
    /// calls waiting on it fail, and the registry records the disconnect after the connect.
    /// - Returns: whether the session was still current.
    @discardableResult
    public func closed(_ lease: DeviceSessionLease) -> Bool {
        guard services.presence.unregister(lease.session) else { return false }
        let identity = lease.session.identity
        services.methods.connectionEnded(identity)
        let (store, recorded) = (services.store, lease.connectionRecorded)
        Task {
            await recorded.value
            try? await store.recordConnection(identity, state: .disconnected, at: Date())
        }
        return true
    }
}

/// An open session, from ``DeviceSessionRegistry/opened(_:protocol:)`` to ``DeviceSessionRegistry/closed(_:)``.
public struct DeviceSessionLease: Sendable {
    public let session: any DeviceSession
    let connectionRecorded: Task<Void, Never>
}

extension HubServices {
    /// Session open and close for the protocol heads.
    public var sessions: DeviceSessionRegistry { DeviceSessionRegistry(services: self) }
}
