import Foundation
import IoTHubCore
import IoTHubProtocol
import NIOCore

/// Device-to-cloud telemetry from every session on one event loop, handed to the store a tick at a time.
///
/// A head submits each message as it decodes it. The queue stamps and encodes it on the loop (``EventService/record(_:from:at:)``)
/// and, once per event-loop tick, hands everything submitted in that tick to the store as one batch
/// (``EventService/append(_:counts:completion:)``): one hand-off to the writer thread and one hop back per tick,
/// however many connections and messages the tick read. When the batch is committed, each client hears back, in
/// submission order, and only then acknowledges (MQTT PUBACK, AMQP accepted).
///
/// Confined to its event loop: every call is made on it.
final class TelemetryIngestQueue {
    /// A submitted message's session and token.
    private struct Waiter {
        let client: any TelemetryIngestClient
        let token: UInt64
    }

    let eventLoop: any EventLoop
    private let events: EventService
    /// A tick that reads more than this hands off early, so one batch stays a bounded transaction.
    private let maximumBatch: Int
    private var records: [EventRecord] = []
    private var waiters: [Waiter] = []
    private var counts: [(protocolName: String, messages: Int)] = []
    private var stamp: EnqueueStamp?
    private var flushScheduled = false

    init(events: EventService, eventLoop: any EventLoop, maximumBatch: Int = 4_096) {
        self.events = events
        self.eventLoop = eventLoop
        self.maximumBatch = maximumBatch
    }

    /// Queues `message` for this tick's batch; `client` hears back with `token` once it is committed.
    /// - Returns: the error when the message is refused at once (413002, too large); the client then hears nothing.
    func submit(_ message: IoTHubMessage, from source: TelemetrySource, client: any TelemetryIngestClient,
                token: UInt64) -> HubError? {
        let stamp = self.stamp ?? makeStamp()
        switch events.record(message, from: source, at: stamp) {
        case .failure(let error):
            return error
        case .success(let record):
            records.append(record)
            waiters.append(Waiter(client: client, token: token))
            count(source.protocolName)
        }
        if records.count >= maximumBatch {
            handOff()
        } else if !flushScheduled {
            flushScheduled = true
            // Runs after the I/O of this loop iteration: every channel read in the tick has submitted by then.
            eventLoop.assumeIsolated().execute { [self] in
                flushScheduled = false
                handOff()
            }
        }
        return nil
    }

    private func makeStamp() -> EnqueueStamp {
        let stamp = EnqueueStamp(Timestamps.timestamp(Date()))
        self.stamp = stamp
        return stamp
    }

    private func count(_ protocolName: String) {
        if let index = counts.firstIndex(where: { $0.protocolName == protocolName }) {
            counts[index].messages += 1
        } else {
            counts.append((protocolName, 1))
        }
    }

    /// Hands what is queued to the store; the clients hear back on this loop after the commit.
    private func handOff() {
        stamp = nil
        guard !records.isEmpty else { return }
        let batch = records
        let done = NIOLoopBound(waiters, eventLoop: eventLoop)
        let counts = self.counts
        records = []
        records.reserveCapacity(batch.count)
        waiters = []
        waiters.reserveCapacity(batch.count)
        self.counts.removeAll(keepingCapacity: true)
        events.append(batch, counts: counts) { result in
            let outcome = result.map { _ in () }
            done.eventLoop.execute {
                for waiter in done.value { waiter.client.telemetryIngested(token: waiter.token, result: outcome) }
            }
        }
    }
}
