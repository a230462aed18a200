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
///
/// Connection-state records reach the store in the order sessions opened and closed, so a device that reconnects
/// quickly (close, then open) ends up Connected, never behind a late Disconnected.
public final class DeviceSessionRegistry: Sendable {
    private let presence: PresenceDirectory
    private let methods: MethodDispatcher
    private let metrics: HubMetrics
    private let records: AsyncStream<(DeviceIdentity, ConnectionState, Date)>.Continuation

    init(store: any HubStore, presence: PresenceDirectory, methods: MethodDispatcher, metrics: HubMetrics) {
        self.presence = presence
        self.methods = methods
        self.metrics = metrics
        let (stream, continuation) = AsyncStream<(DeviceIdentity, ConnectionState, Date)>.makeStream()
        records = continuation
        // One writer, in submission order; it ends when the registry goes away.
        Task {
            for await (identity, state, time) in stream {
                _ = try? await store.recordConnection(identity, state: state, at: time)
            }
        }
    }

    deinit {
        records.finish()
    }

    /// Registers a session that authenticated: it takes over any other session of its identity (which ends with
    /// ``SessionEndReason/takenOver``), and the registry records it as connected.
    public func opened(_ session: any DeviceSession, protocol protocolName: String) -> DeviceSessionLease {
        records.yield((session.identity, .connected, Date()))
        presence.register(session)
        metrics.connection(protocol: protocolName, accepted: true)
        return DeviceSessionLease(session: session)
    }

    /// Ends a session: if it is still its identity's current one (not taken over), presence forgets it, method
    /// calls waiting on it fail, and the registry records the disconnect.
    /// - Returns: whether the session was still current.
    @discardableResult
    public func closed(_ lease: DeviceSessionLease) -> Bool {
        guard presence.unregister(lease.session) else { return false }
        let identity = lease.session.identity
        methods.connectionEnded(identity)
        records.yield((identity, .disconnected, Date()))
        return true
    }
}

/// An open session, from ``DeviceSessionRegistry/opened(_:protocol:)`` to ``DeviceSessionRegistry/closed(_:)``.
public struct DeviceSessionLease: Sendable {
    public let session: any DeviceSession
}
