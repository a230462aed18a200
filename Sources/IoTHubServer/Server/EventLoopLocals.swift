import IoTHubCore
import NIOConcurrencyHelpers
import NIOCore

/// What the connections of one event loop share, one set per loop for every listener of a hub (MQTT and AMQP,
/// TLS and plain): the ``TelemetryIngestQueue`` that hands a tick's telemetry to the store in one batch, and the
/// ``ConnectionTimerWheel`` that keeps their deadlines.
final class EventLoopLocals: Sendable {
    /// The shared objects of one loop; use them on that loop only.
    struct Locals {
        let ingest: TelemetryIngestQueue
        let timers: ConnectionTimerWheel
    }

    private let events: EventService
    private let locals = NIOLockedValueBox<[ObjectIdentifier: NIOLoopBound<Locals>]>([:])

    init(events: EventService) {
        self.events = events
    }

    /// The objects of `eventLoop`; call it on that loop (a connection does, once, when its handler is added).
    func on(_ eventLoop: any EventLoop) -> Locals {
        // The loop is held by what is stored for it, so its identifier is not reused while the entry exists.
        let key = ObjectIdentifier(eventLoop)
        return locals.withLockedValue { locals in
            if let existing = locals[key] { return existing.value }
            let created = Locals(ingest: TelemetryIngestQueue(events: events, eventLoop: eventLoop),
                                 timers: ConnectionTimerWheel(eventLoop: eventLoop))
            locals[key] = NIOLoopBound(created, eventLoop: eventLoop)
            return created
        }
    }
}
