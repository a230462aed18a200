import IoTHubProtocol
import NIOConcurrencyHelpers
import NIOCore

/// The ``DeviceSession`` of one MQTT connection: what the hub's services may ask of it, from any thread.
///
/// Every request hops onto the connection's event loop; after the connection closed, requests are dropped.
final class MQTTDeviceSession: DeviceSession {
    struct Subscriptions: Sendable {
        var desiredProperties = false
        var methods = false
    }

    let identity: DeviceIdentity
    private let eventLoop: any EventLoop
    private let handler: NIOLoopBoundBox<MQTTDeviceConnectionHandler?>
    private let subscriptions = NIOLockedValueBox(Subscriptions())

    /// Must be created on `eventLoop`, the loop of `handler`'s channel.
    init(identity: DeviceIdentity, handler: MQTTDeviceConnectionHandler, eventLoop: any EventLoop) {
        self.identity = identity
        self.eventLoop = eventLoop
        self.handler = NIOLoopBoundBox(handler, eventLoop: eventLoop)
    }

    var wantsDesiredPropertyUpdates: Bool { subscriptions.withLockedValue { $0.desiredProperties } }
    var acceptsMethods: Bool { subscriptions.withLockedValue { $0.methods } }

    func updateSubscriptions(_ update: (inout Subscriptions) -> Void) {
        subscriptions.withLockedValue(update)
    }

    func sendDesiredPropertiesPatch(_ patch: [UInt8], version: Int64) {
        onLoop { $0.publishDesiredPropertiesPatch(patch, version: version) }
    }

    func sendMethodRequest(_ request: DirectMethodRequest) {
        onLoop { $0.publishMethodRequest(request) }
    }

    func cloudToDeviceMessagesAvailable() {
        onLoop { $0.deliverCloudToDevice() }
    }

    func end(_ reason: SessionEndReason) {
        onLoop { $0.end(reason) }
    }

    /// Drops the link to the handler once its connection closed (breaks the reference cycle).
    func detach() {
        eventLoop.preconditionInEventLoop()
        handler.value = nil
    }

    private func onLoop(_ body: @escaping @Sendable (MQTTDeviceConnectionHandler) -> Void) {
        let handler = self.handler
        eventLoop.execute {
            guard let connection = handler.value else { return }
            body(connection)
        }
    }
}
