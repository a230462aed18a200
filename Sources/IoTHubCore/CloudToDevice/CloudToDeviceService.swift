import Foundation
import IoTHubProtocol
import Logging
import Synchronization

/// One C2D feedback record, as IoT Hub sends them in batches on `/messages/servicebound/feedback`.
public struct C2DFeedbackRecord: Sendable, Hashable {
    public var originalMessageId: String
    public var deviceGenerationId: String
    public var deviceId: String
    public var enqueuedTime: Date
    public var status: C2DFeedbackStatus
    public var description: String
}

/// Cloud-to-device queues: send with IoT Hub's limits, deliver under a lock, settle, dead-letter, feedback.
public final class CloudToDeviceService: Sendable {
    let store: any HubStore
    let presence: PresenceDirectory
    let logger: Logger
    /// Deliveries before a message is dead-lettered.
    public let maximumDeliveryCount: Int
    let metrics: HubMetrics?
    private let feedback = Mutex<[C2DFeedbackRecord]>([])
    private static let feedbackBacklog = 10_000

    public init(store: any HubStore, presence: PresenceDirectory, logger: Logger,
                maximumDeliveryCount: Int = C2DLimits.defaultMaximumDeliveryCount, metrics: HubMetrics? = nil) {
        self.metrics = metrics
        self.store = store
        self.presence = presence
        self.logger = logger
        self.maximumDeliveryCount = maximumDeliveryCount
    }

    /// Queues a message for a device and wakes its session if connected.
    /// - Parameters:
    ///   - timeToLive: seconds until the message expires (default 1 hour, at most 2 days).
    /// - Throws: 404001 unknown device, 400004 over 64 KiB or bad TTL, 403004 when 50 messages are pending.
    public func send(_ message: IoTHubMessage, to identity: DeviceIdentity, acknowledgement: C2DAcknowledgement = .none,
                     timeToLive: Int? = nil, now: Date = Date()) async throws {
        guard message.size <= C2DLimits.maximumSize else {
            throw HubError.invalid("the message is \(message.size) bytes; cloud-to-device messages may have at most 65536")
        }
        let ttl = timeToLive ?? C2DLimits.defaultTimeToLive
        guard (1...C2DLimits.maximumTimeToLive).contains(ttl) else {
            throw HubError.invalid("time to live must be 1 to 172800 seconds, not \(ttl)")
        }
        var stamped = message
        stamped.systemProperties.to = "/devices/\(identity.deviceId)/messages/deviceBound"
        if stamped.systemProperties.messageId == nil { stamped.systemProperties.messageId = UUID().uuidString.lowercased() }
        stamped.systemProperties.ack = acknowledgement == .none ? nil : acknowledgement.rawValue
        stamped.systemProperties.expiryTimeUTC = Timestamps.iso8601(now.addingTimeInterval(Double(ttl)))
        stamped.systemProperties.enqueuedTime = Timestamps.iso8601(now)
        try await store.enqueueCloudToDevice(
            CloudToDeviceEnvelope(identity: identity, message: stamped, enqueuedTime: now,
                                  expiryTime: now.addingTimeInterval(Double(ttl)), acknowledgement: acknowledgement),
            limit: C2DLimits.maximumPendingPerDevice)
        presence.session(for: identity)?.cloudToDeviceMessagesAvailable()
    }

    /// Locks up to `maximum` deliverable messages for `identity`; expired and over-delivered ones are dead-lettered.
    public func lock(_ identity: DeviceIdentity, maximum: Int, lockDuration: TimeInterval = TimeInterval(C2DLimits.lockDuration),
                     now: Date = Date()) async throws -> [CloudToDeviceEnvelope] {
        let (locked, dead) = try await store.lockCloudToDevice(identity, now: now, lockDuration: lockDuration,
                                                               maximum: maximum, maximumDeliveryCount: maximumDeliveryCount)
        for (envelope, status) in dead { try await recordFeedback(envelope, status: status, now: now) }
        for _ in locked { metrics?.messageSent(kind: "c2d") }
        return locked
    }

    /// Completes, rejects or abandons a locked message. Throws 412020 when the lock is unknown or expired.
    public func settle(_ identity: DeviceIdentity, lockToken: String, disposition: C2DDisposition, now: Date = Date()) async throws {
        let envelope = try await store.settleCloudToDevice(identity, lockToken: lockToken, disposition: disposition)
        switch disposition {
        case .complete: try await recordFeedback(envelope, status: .success, now: now)
        case .reject: try await recordFeedback(envelope, status: .rejected, now: now)
        case .abandon: presence.session(for: identity)?.cloudToDeviceMessagesAvailable()
        }
    }

    /// Returns a disconnected device's locked messages to its queue.
    public func release(_ identity: DeviceIdentity) async throws {
        try await store.releaseCloudToDeviceLocks(identity)
    }

    /// Removes every pending message of a device (with `Purged` feedback); returns how many.
    public func purge(_ identity: DeviceIdentity, now: Date = Date()) async throws -> Int {
        let purged = try await store.purgeCloudToDevice(identity)
        for envelope in purged { try await recordFeedback(envelope, status: .purged, now: now) }
        return purged.count
    }

    /// Takes up to `maximum` pending feedback records, oldest first.
    public func takeFeedback(maximum: Int = 500) -> [C2DFeedbackRecord] {
        feedback.withLock { records in
            let batch = Array(records.prefix(maximum))
            records.removeFirst(batch.count)
            return batch
        }
    }

    /// Puts back records taken with ``takeFeedback(maximum:)`` that a back end did not accept, ahead of newer ones.
    public func returnFeedback(_ records: [C2DFeedbackRecord]) {
        guard !records.isEmpty else { return }
        feedback.withLock { pending in
            pending.insert(contentsOf: records, at: 0)
            if pending.count > Self.feedbackBacklog { pending.removeLast(pending.count - Self.feedbackBacklog) }
        }
    }

    private func recordFeedback(_ envelope: CloudToDeviceEnvelope, status: C2DFeedbackStatus, now: Date) async throws {
        guard envelope.acknowledgement.wantsFeedback(for: status) else { return }
        let generationId = try await store.device(envelope.identity)?.generationId ?? ""
        let record = C2DFeedbackRecord(
            originalMessageId: envelope.message.systemProperties.messageId ?? "", deviceGenerationId: generationId,
            deviceId: envelope.identity.deviceId, enqueuedTime: now, status: status, description: status.rawValue)
        feedback.withLock { records in
            records.append(record)
            if records.count > Self.feedbackBacklog { records.removeFirst(records.count - Self.feedbackBacklog) }
        }
    }
}
