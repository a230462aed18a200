import Foundation
import IoTHubProtocol
import Synchronization

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
    private struct Pending {
        var changes: [ConnectionChange] = []
        var writing = false
    }

    private let store: any HubStore
    private let presence: PresenceDirectory
    private let methods: MethodDispatcher
    private let metrics: HubMetrics
    /// Routes connection-state events when a route takes them.
    private let routing: RoutingService?
    /// Changes not yet handed to the store, and whether a writer is draining them. One writer at a time keeps
    /// them in order; it takes everything queued at once, so a connect storm costs one transaction per batch,
    /// not one per connect.
    private let pending = Mutex(Pending())

    init(store: any HubStore, presence: PresenceDirectory, methods: MethodDispatcher, metrics: HubMetrics,
         routing: RoutingService? = nil) {
        self.routing = routing
        self.store = store
        self.presence = presence
        self.methods = methods
        self.metrics = metrics
    }

    private func record(_ change: ConnectionChange) {
        if let routing, routing.routes(.deviceConnectionStateEvents) {
            routing.publish(.connection(change.identity, connected: change.state == .connected,
                                        sequenceNumber: routing.nextConnectionSequenceNumber(at: change.time), at: change.time))
        }
        let startWriter = pending.withLock { pending in
            pending.changes.append(change)
            guard !pending.writing else { return false }
            pending.writing = true
            return true
        }
        guard startWriter else { return }
        Task { await drain() }
    }

    private func drain() async {
        while true {
            let batch = pending.withLock { pending in
                let batch = pending.changes
                pending.changes = []
                if batch.isEmpty { pending.writing = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            _ = try? await store.recordConnections(batch)
        }
    }

    /// Registers a session that authenticated: it takes over any other session of its identity (which ends with
    /// ``SessionEndReason/takenOver``), and the registry records it as connected.
    public func opened(_ session: any DeviceSession, protocol protocolName: String) -> DeviceSessionLease {
        record(ConnectionChange(session.identity, .connected, at: Date()))
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
        record(ConnectionChange(identity, .disconnected, at: Date()))
        return true
    }
}

/// An open session, from ``DeviceSessionRegistry/opened(_:protocol:)`` to ``DeviceSessionRegistry/closed(_:)``.
public struct DeviceSessionLease: Sendable {
    public let session: any DeviceSession
}
