import IoTHubProtocol
import NIOConcurrencyHelpers
import NIOCore

/// What a protocol head does for the identities it carries: the requests the hub's services make of a connected
/// device, run on the head's event loop. One host (an AMQP connection) may carry many identities.
protocol DeviceSessionHost: AnyObject {
    func sendDesiredPropertiesPatch(_ patch: [UInt8], version: Int64, to identity: DeviceIdentity)
    func sendMethodRequest(_ request: DirectMethodRequest, to identity: DeviceIdentity)
    func cloudToDeviceMessagesAvailable(for identity: DeviceIdentity)
    func end(_ identity: DeviceIdentity, reason: SessionEndReason)
}

/// The ``DeviceSession`` of one identity on one connection of a protocol head (MQTT, AMQP): what the hub's
/// services may ask of it, from any thread.
///
/// Every request hops onto the connection's event loop; after the identity's session ended, requests are dropped.
final class HostedDeviceSession: ObservableDeviceSession {
    struct Subscriptions: Sendable {
        var desiredProperties = false
        var methods = false
    }

    let identity: DeviceIdentity
    /// The head's name in metrics and logs ("mqtt", "amqp").
    let protocolName: String
    private let eventLoop: any EventLoop
    private let host: NIOLoopBoundBox<(any DeviceSessionHost)?>
    /// The subscriptions and who is told when they change, under one lock (one allocation per session).
    private let subscriptions = NIOLockedValueBox<(current: Subscriptions, changed: (@Sendable () -> Void)?)>(
        (Subscriptions(), nil))

    /// Must be created on `eventLoop`, the loop of `host`'s channel.
    init(identity: DeviceIdentity, host: any DeviceSessionHost, protocolName: String, eventLoop: any EventLoop) {
        self.identity = identity
        self.protocolName = protocolName
        self.eventLoop = eventLoop
        self.host = NIOLoopBoundBox(host, eventLoop: eventLoop)
    }

    var wantsDesiredPropertyUpdates: Bool { subscriptions.withLockedValue { $0.current.desiredProperties } }
    var acceptsMethods: Bool { subscriptions.withLockedValue { $0.current.methods } }

    func updateSubscriptions(_ update: (inout Subscriptions) -> Void) {
        let changed = subscriptions.withLockedValue { state in
            update(&state.current)
            return state.changed
        }
        changed?()
    }

    func onSubscriptionsChanged(_ callback: @escaping @Sendable () -> Void) {
        subscriptions.withLockedValue { $0.changed = callback }
    }

    func sendDesiredPropertiesPatch(_ patch: [UInt8], version: Int64) {
        let identity = self.identity
        onLoop { $0.sendDesiredPropertiesPatch(patch, version: version, to: identity) }
    }

    func sendMethodRequest(_ request: DirectMethodRequest) {
        let identity = self.identity
        onLoop { $0.sendMethodRequest(request, to: identity) }
    }

    func cloudToDeviceMessagesAvailable() {
        let identity = self.identity
        onLoop { $0.cloudToDeviceMessagesAvailable(for: identity) }
    }

    func end(_ reason: SessionEndReason) {
        let identity = self.identity
        onLoop { $0.end(identity, reason: reason) }
    }

    /// Drops the link to the host once the session ended (breaks the reference cycle).
    func detach() {
        eventLoop.preconditionInEventLoop()
        host.value = nil
    }

    private func onLoop(_ body: @escaping @Sendable (any DeviceSessionHost) -> Void) {
        let host = self.host
        eventLoop.execute {
            guard let connection = host.value else { return }
            body(connection)
        }
    }
}
