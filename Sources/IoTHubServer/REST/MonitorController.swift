import Foundation
import Hummingbird
import IoTHubProtocol
import ServiceLifecycle
import Synchronization

/// `GET /monitor/events`: stored and live telemetry as JSON lines (`application/x-ndjson`), for `iothub monitor`.
///
/// Query parameters: `deviceId` (one device only), `fromStart=true` (begin with the oldest stored message; by
/// default only new messages), `after=N` (begin after sequence number N), `limit=N` (stop after N messages).
/// Each line: `{"sequenceNumber","deviceId","moduleId"?,"enqueuedTime","body","bodyEncoding"?,"properties",
/// "systemProperties"}`; `body` is the UTF-8 text, or base64 with `"bodyEncoding":"base64"` when not UTF-8.
/// While no messages arrive, an empty line goes out every ``heartbeatInterval`` (readers skip empty lines), so a
/// client that went away is noticed; the stream ends when the hub shuts down. Needs a policy with ServiceConnect.
struct MonitorController {
    let hub: HubServices
    /// How long the stream waits for the event log's signal before it reads the store anyway (events appended by
    /// another hub node sharing the store are seen within this).
    var storeRecheckInterval: Duration = .seconds(1)
    /// How long the stream stays silent before it writes an empty line.
    var heartbeatInterval: Duration = .seconds(5)

    func register(on router: Router<HubRequestContext>) {
        router.requiring([.serviceConnect], hub).get("monitor/events") { request, _ in
            let query = request.uri.queryParameters
            let deviceId = query["deviceId"].map(String.init)
            let limit = query.get("limit", as: Int.self)
            let start: Int64
            if let after = query.get("after", as: Int64.self) {
                start = after
            } else if query["fromStart"].map({ $0.lowercased() == "true" }) == true {
                start = 0
            } else {
                start = try await hub.events.lastSequenceNumber()
            }
            let events = hub.events
            let recheck = self.storeRecheckInterval
            let heartbeatInterval = self.heartbeatInterval
            var headers = HTTPFields()
            headers[.contentType] = "application/x-ndjson"
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                var sent = 0
                var cursor = start
                var lastWrite = ContinuousClock.now
                // Graceful shutdown ends the stream instead of waiting for a stream that never ends.
                let stopping = StopFlag()
                try await withGracefulShutdownHandler {
                    streaming: while !Task.isCancelled, !stopping.isSet {
                        // Everything appended up to here is in what the read below returns (or filtered out).
                        let observed = events.signal.lastAppended
                        let batch = try await events.events(after: cursor, deviceId: deviceId, limit: 500)
                        // One write per batch, not per line: a reader that fell behind catches up at the rate
                        // the store reads, not at one response-body write per message.
                        if !batch.isEmpty {
                            var lines: [UInt8] = []
                            for event in batch {
                                cursor = event.sequenceNumber
                                lines.append(contentsOf: Self.line(event))
                                sent += 1
                                if let limit, sent >= limit { break }
                            }
                            try await writer.write(ByteBuffer(bytes: lines))
                            lastWrite = .now
                            if let limit, sent >= limit { break streaming }
                        } else {
                            if ContinuousClock.now - lastWrite >= heartbeatInterval {
                                // Fails once the client is gone, which ends the stream.
                                try await writer.write(ByteBuffer(string: "\n"))
                                lastWrite = .now
                            }
                            await events.signal.wait(after: max(cursor, observed), timeout: min(recheck, heartbeatInterval))
                        }
                    }
                } onGracefulShutdown: {
                    stopping.set()
                }
                try await writer.finish(nil)
            })
        }
    }

    /// One JSON line for a stored message.
    static func line(_ event: StoredEvent) -> [UInt8] {
        var object: JSONObject = ["sequenceNumber": .integer(event.sequenceNumber), "deviceId": .string(event.identity.deviceId)]
        if let moduleId = event.identity.moduleId { object["moduleId"] = .string(moduleId) }
        object["enqueuedTime"] = .string(Timestamps.iso8601(event.enqueuedTime))
        if let text = String(validating: event.message.body, as: UTF8.self) {
            object["body"] = .string(text)
        } else {
            object["body"] = .string(LibCrypto.base64Encode(event.message.body))
            object["bodyEncoding"] = "base64"
        }
        var properties = JSONObject()
        for key in event.message.properties.keys.sorted() { properties[key] = .string(event.message.properties[key] ?? "") }
        object["properties"] = .object(properties)
        var system = JSONObject()
        for (name, value) in event.message.systemProperties.namedValues { system[name] = .string(value) }
        object["systemProperties"] = .object(system)
        return JSONValue.object(object).serializedBytes() + [UInt8(ascii: "\n")]
    }
}

/// A flag set from a graceful-shutdown handler and read by the stream loop.
private final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
