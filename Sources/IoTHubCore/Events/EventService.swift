import Foundation
import IoTHubProtocol
import Logging

/// Telemetry ingest and read-back, the same for every protocol head.
///
/// ``ingest(_:from:authentication:generationId:completion:)`` stamps IoT Hub's system properties and appends the
/// message to the durable log; its completion runs only after the message is committed (group commit), which is
/// when a protocol head may acknowledge it (MQTT PUBACK, AMQP accepted, HTTP 204).
public final class EventService: Sendable {
    let store: any HubStore
    let logger: Logger
    /// How long messages are kept.
    public let retention: TimeInterval
    /// The most bytes the log keeps; the oldest messages go first.
    public let maximumBytes: Int64
    let metrics: HubMetrics?
    /// Wakes readers of the log (monitor streams, consumers) when this process appends.
    public let signal = EventLogSignal()

    public init(store: any HubStore, retention: TimeInterval = 86_400, maximumBytes: Int64 = 1 << 30, logger: Logger,
                metrics: HubMetrics? = nil) {
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

    /// Validates, stamps and stores a device-to-cloud message.
    /// - Parameter completion: runs once the message is durable, with its sequence number, or with 413002 when
    ///   the message is over 256 KiB, or 500001 when the store failed.
    public func ingest(_ message: IoTHubMessage, from identity: DeviceIdentity, authentication: AuthenticationKind,
                       generationId: String, protocol protocolName: String = "mqtt", now: Date = Date(),
                       completion: @escaping @Sendable (Result<Int64, HubError>) -> Void) {
        guard message.size <= IoTHubMessage.maximumDeviceToCloudSize else {
            completion(.failure(HubError(.messageTooLarge,
                                         "the message is \(message.size) bytes with its properties; IoT Hub accepts at most 262144")))
            return
        }
        var stamped = message
        stamped.systemProperties.connectionDeviceId = identity.deviceId
        stamped.systemProperties.connectionModuleId = identity.moduleId
        stamped.systemProperties.connectionAuthMethod =
            #"{"scope":"\#(identity.moduleId == nil ? "device" : "module")","type":"\#(authentication.rawValue)","issuer":"iothub","acceptingIpFilterRule":null}"#
        stamped.systemProperties.connectionAuthGenerationId = generationId
        stamped.systemProperties.enqueuedTime = Timestamps.iso8601(now)
        stamped.systemProperties.messageSource = "Telemetry"
        let logger = self.logger
        let (metrics, signal) = (self.metrics, self.signal)
        store.appendEvent(identity: identity, enqueuedTime: now, message: stamped) { result in
            switch result {
            case .success(let sequence):
                signal.appended(sequence)
                metrics?.messageReceived(protocol: protocolName)
                completion(.success(sequence))
            case .failure(let error):
                logger.error("telemetry not stored", metadata: ["identity": "\(identity)", "error": "\(error)"])
                completion(.failure(HubError(.serverError, "the hub could not store the message; retry")))
            }
        }
    }

    /// Async form of ``ingest(_:from:authentication:generationId:now:completion:)``.
    public func ingest(_ message: IoTHubMessage, from identity: DeviceIdentity, authentication: AuthenticationKind,
                       generationId: String, protocol protocolName: String = "mqtt", now: Date = Date()) async throws -> Int64 {
        try await withCheckedThrowingContinuation { continuation in
            ingest(message, from: identity, authentication: authentication, generationId: generationId,
                   protocol: protocolName, now: now) {
                continuation.resume(with: $0.mapError { $0 as Error })
            }
        }
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
