import Foundation
import IoTHubProtocol
import Logging

/// Telemetry ingest and read-back, the same for every protocol head.
///
/// ``record(_:from:at:)`` stamps IoT Hub's system properties and encodes a message on the protocol head's thread;
/// ``append(_:counts:completion:)`` hands a batch of them to the durable log, and its completion runs only after
/// the batch is committed (group commit), which is when a protocol head may acknowledge them (MQTT PUBACK, AMQP
/// accepted, HTTP 204). ``TelemetryIngestQueue`` (in the server) batches per event-loop tick.
public final class EventService: Sendable {
    let store: any HubStore
    let logger: Logger
    /// How long messages are kept.
    public let retention: TimeInterval
    /// The most bytes the log keeps; the oldest messages go first.
    public let maximumBytes: Int64
    let metrics: HubMetrics?
    /// Wakes readers of the log (monitor streams, consumers) when this process appends.
    public let signal: EventLogSignal
    /// Message routing; `nil` sends every message to the built-in endpoint.
    public let routing: RoutingService?
    /// Which partition of the built-in endpoint each device's messages go to.
    public let partitioner: EventHubPartitioner

    public init(store: any HubStore, retention: TimeInterval = 86_400, maximumBytes: Int64 = 1 << 30,
                partitioner: EventHubPartitioner = EventHubPartitioner(count: 4), logger: Logger,
                metrics: HubMetrics? = nil, signal: EventLogSignal = EventLogSignal(), routing: RoutingService? = nil) {
        self.partitioner = partitioner
        self.signal = signal
        self.routing = routing
        self.metrics = metrics
        self.store = store
        self.retention = retention
        self.maximumBytes = maximumBytes
        self.logger = logger
    }

    /// How the sender authenticated, as stamped in `iothub-connection-auth-method`.
    public enum AuthenticationKind: String, Sendable {
        case sas
        case selfSigned = "x509Certificate"
        case certificateAuthority = "x509CA"
    }

    /// Validates and stamps a device-to-cloud message and encodes it for the log: the part of ingest that runs on
    /// the protocol head's own thread, so the store's writer only writes.
    /// - Returns: the record, or 413002 when the message is over 256 KiB with its properties.
    public func record(_ message: IoTHubMessage, from source: TelemetrySource, at stamp: EnqueueStamp)
        -> Result<EventRecord, HubError> {
        let size = message.size
        guard size <= IoTHubMessage.maximumDeviceToCloudSize else {
            return .failure(HubError(.messageTooLarge,
                                     "the message is \(size) bytes with its properties; IoT Hub accepts at most 262144"))
        }
        var properties: [UInt8] = []
        properties.reserveCapacity(2 + message.properties.count * 24)
        JSONStringMembers.write(message.properties.lazy.map { ($0.key, $0.value) }, to: &properties)

        var system: [UInt8] = []
        system.reserveCapacity(source.identityMembers.count + source.authenticationMembers.count
                               + source.generationMembers.count + stamp.encodedMembers.count + 96)
        JSONStringMembers.open(&system)
        var first = true
        // What the sender set, then the hub's stamps; a sender cannot set these (IoT Hub overwrites them).
        message.systemProperties.forEachSenderProperty { name, value in
            JSONStringMembers.append(key: name, value: value, first: first, to: &system)
            first = false
        }
        if !first { system.append(UInt8(ascii: ",")) }
        system.append(contentsOf: source.identityMembers)
        system.append(contentsOf: source.authenticationMembers)
        system.append(contentsOf: source.generationMembers)
        system.append(UInt8(ascii: ","))
        system.append(contentsOf: stamp.encodedMembers)
        JSONStringMembers.close(&system)
        return .success(EventRecord(identity: source.identity, enqueuedMilliseconds: stamp.milliseconds,
                                    body: message.body, properties: properties, system: system,
                                    partition: partitioner.partition(for: source.identity.deviceId)))
    }

    /// Appends records (one event-loop tick's worth, from any number of sessions) to the durable log in one
    /// hand-off to the store; `completion` runs once, after the batch is committed, which is when the protocol
    /// heads may acknowledge every message in it.
    ///
    /// With routes, each message is stored once per endpoint it goes to (event streams, and storage endpoints'
    /// outboxes, from which their batches are written later), all in the same transaction: a message is
    /// acknowledged only once it is durable for every endpoint. A message that goes nowhere is acknowledged
    /// without being stored, as IoT Hub drops it.
    /// - Parameter counts: messages per protocol name, for metrics.
    public func append(_ records: [EventRecord], counts: [(protocolName: String, messages: Int)],
                       completion: @escaping @Sendable (Result<ClosedRange<Int64>, HubError>) -> Void) {
        guard let routing, !routing.isPassThrough else { return persist(records, counts: counts, completion: completion) }
        routing.route(records) { [self] routed in
            guard !routed.isEmpty else {
                for (name, messages) in counts { metrics?.messagesReceived(messages, protocol: name) }
                let last = signal.lastAppended
                return completion(.success(last...last))
            }
            persist(routed, counts: counts, completion: completion)
        }
    }

    private func persist(_ records: [EventRecord], counts: [(protocolName: String, messages: Int)],
                       completion: @escaping @Sendable (Result<ClosedRange<Int64>, HubError>) -> Void) {
        let logger = self.logger
        let (metrics, signal) = (self.metrics, self.signal)
        store.appendEvents(records) { result in
            switch result {
            case .success(let sequences):
                signal.appended(sequences.upperBound)
                for (name, messages) in counts { metrics?.messagesReceived(messages, protocol: name) }
                completion(.success(sequences))
            case .failure(let error):
                logger.error("telemetry not stored", metadata: ["messages": "\(records.count)", "error": "\(error)"])
                completion(.failure(HubError(.serverError, "the hub could not store the message; retry")))
            }
        }
    }

    /// Validates, stamps and stores one device-to-cloud message (HTTPS telemetry, MQTT wills); the protocol heads'
    /// streams go through ``record(_:from:at:)`` and ``append(_:counts:completion:)`` a batch at a time.
    /// - Parameter completion: runs once the message is durable, with its sequence number, or with 413002 when
    ///   the message is over 256 KiB, or 500001 when the store failed.
    public func ingest(_ message: IoTHubMessage, from source: TelemetrySource, now: Date = Date(),
                       completion: @escaping @Sendable (Result<Int64, HubError>) -> Void) {
        switch record(message, from: source, at: EnqueueStamp(Timestamps.timestamp(now))) {
        case .failure(let error):
            completion(.failure(error))
        case .success(let record):
            append([record], counts: [(source.protocolName, 1)]) { completion($0.map(\.upperBound)) }
        }
    }

    /// Async form of ``ingest(_:from:now:completion:)``.
    public func ingest(_ message: IoTHubMessage, from source: TelemetrySource, now: Date = Date()) async throws -> Int64 {
        try await withCheckedThrowingContinuation { continuation in
            ingest(message, from: source, now: now) {
                continuation.resume(with: $0.mapError { $0 as Error })
            }
        }
    }

    /// ``ingest(_:from:now:)`` for a sender given by its parts.
    public func ingest(_ message: IoTHubMessage, from identity: DeviceIdentity, authentication: AuthenticationKind,
                       generationId: String, protocol protocolName: String = "mqtt", now: Date = Date()) async throws -> Int64 {
        try await ingest(message, from: TelemetrySource(identity: identity, authentication: authentication,
                                                        generationId: generationId, protocol: protocolName), now: now)
    }

    /// Stored messages after `sequenceNumber`, oldest first.
    public func events(after sequenceNumber: Int64, deviceId: String?, limit: Int = 500) async throws -> [StoredEvent] {
        try await store.events(after: sequenceNumber, deviceId: deviceId, limit: limit)
    }

    /// The newest sequence number.
    public func lastSequenceNumber() async throws -> Int64 { try await store.lastEventSequenceNumber() }

    /// Applies retention and the size bound once.
    @discardableResult
    public func prune(now: Date = Date()) async throws -> Int {
        let removed = try await store.pruneEvents(olderThan: now.addingTimeInterval(-retention), maximumBytes: maximumBytes)
        if removed > 0 { logger.debug("pruned telemetry", metadata: ["messages": "\(removed)"]) }
        return removed
    }
}

/// Timestamp formatting as IoT Hub writes it, for `Date`s (the protocol core's ``Timestamp`` does the work).
public enum Timestamps {
    /// ISO 8601 in UTC with 100 ns ticks: `2026-11-22T17:42:41.1234567Z`.
    public static func iso8601(_ date: Date) -> String {
        timestamp(date).iso8601
    }

    /// The protocol core's timestamp for `date`.
    public static func timestamp(_ date: Date) -> Timestamp {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        let nanoseconds = Int32(((date.timeIntervalSince1970 - seconds) * 1e9).rounded(.down))
        return Timestamp(secondsSince1970: Int64(seconds), nanoseconds: min(nanoseconds, 999_999_999)).truncatedToTicks
    }
}
