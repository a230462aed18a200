import IoTHubCore
import NIOConcurrencyHelpers
import NIOCore

/// One ``TelemetryIngestQueue`` per event loop, shared by every listener of a hub (MQTT and AMQP, TLS and plain),
/// so that a tick's telemetry from all of them goes to the store in one batch.
final class TelemetryIngestQueues: Sendable {
    private let events: EventService
    private let queues = NIOLockedValueBox<[ObjectIdentifier: NIOLoopBound<TelemetryIngestQueue>]>([:])

    init(events: EventService) {
        self.events = events
    }

    /// The queue of `eventLoop`; call it on that loop (a connection does, once, when its handler is added).
    func queue(on eventLoop: any EventLoop) -> TelemetryIngestQueue {
        let key = ObjectIdentifier(eventLoop)
        return queues.withLockedValue { queues in
            if let queue = queues[key] { return queue.value }
            let queue = TelemetryIngestQueue(events: events, eventLoop: eventLoop)
            queues[key] = NIOLoopBound(queue, eventLoop: eventLoop)
            return queue
        }
    }
}
