import Foundation
import IoTHubProtocol

/// A telemetry message as the hub keeps it for read-back.
public struct StoredEvent: Sendable, Hashable {
    /// Position in the hub's event log; increases with every message.
    public var sequenceNumber: Int64
    /// The sending device or module.
    public var identity: DeviceIdentity
    /// When the hub accepted the message.
    public var enqueuedTime: Date
    /// Body, application properties and system properties (including what the hub stamped).
    public var message: IoTHubMessage
    /// The event-stream partition it is in.
    public var partition: Int
    /// Its Event Hubs sequence number: its position within ``partition``, from 0 and without gaps. (Its Event
    /// Hubs offset is ``sequenceNumber``.)
    public var partitionSequenceNumber: Int64

    public init(sequenceNumber: Int64, identity: DeviceIdentity, enqueuedTime: Date, message: IoTHubMessage,
                partition: Int = 0, partitionSequenceNumber: Int64 = 0) {
        self.partition = partition
        self.partitionSequenceNumber = partitionSequenceNumber
        self.sequenceNumber = sequenceNumber
        self.identity = identity
        self.enqueuedTime = enqueuedTime
        self.message = message
    }
}

/// A consumer group of an event stream.
public struct ConsumerGroupRecord: Sendable, Hashable {
    public var name: String
    /// When it was created, in milliseconds since 1970.
    public var createdMilliseconds: Int64

    public init(name: String, createdMilliseconds: Int64) {
        self.name = name
        self.createdMilliseconds = createdMilliseconds
    }
}

/// A condition on a stored entity's etag (`If-Match`).
public enum ETagCondition: Sendable, Hashable {
    /// No condition.
    case any
    /// The current etag must equal this (quotes removed); `*` means any existing entity.
    case matches(String)

    /// Builds the condition from an `If-Match` header value. No header, or a blank one, is no condition; a quoted
    /// empty etag (`""`) is a condition no entity meets (412), as IoT Hub treats it, never an unconditional update.
    public init(ifMatch header: String?) {
        guard var value = header?.trimmingCharacters(in: .whitespaces), !value.isEmpty else {
            self = .any
            return
        }
        if value.hasPrefix("W/") { value.removeFirst(2) }
        // The official service SDK quotes every etag, `*` included.
        value = value.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        self = value == "*" ? .any : .matches(value)
    }

    func check(_ etag: String) throws(HubError) {
        if case .matches(let expected) = self, expected != etag {
            throw HubError(.preconditionFailed, "the etag \"\(expected)\" is stale (current \"\(etag)\"); read again and retry")
        }
    }
}

/// Durable state of the hub: registry, twins, telemetry log, cloud-to-device queues and access policies.
///
/// The hub's services talk only to this interface; the embedded default is ``SQLiteHubStore``. Nothing here
/// assumes that a device is connected to this process: presence is separate (``PresenceDirectory``).
/// Twins are stored as JSON documents; the twin service parses, patches and validates them inside
/// ``updateTwin(_:_:)``, which runs atomically against concurrent updates.
public protocol HubStore: Sendable {
    // MARK: CA certificates (X.509 CA-signed devices)
    /// Every CA certificate, by name.
    func caCertificates() async throws -> [CACertificateRecord]
    /// Creates or replaces `record` (by name) when `condition` holds against the stored one.
    /// - Throws: 412002 for a stale etag.
    func saveCACertificate(_ record: CACertificateRecord, condition: ETagCondition) async throws -> CACertificateRecord
    /// Deletes a CA certificate. - Throws: 404050 when absent, 412002 for a stale etag.
    func deleteCACertificate(named name: String, condition: ETagCondition) async throws

    // MARK: Access policies
    func policies() async throws -> [AccessPolicy]
    func savePolicies(_ policies: [AccessPolicy]) async throws

    // MARK: Registry
    func device(_ identity: DeviceIdentity) async throws -> DeviceRecord?
    /// Creates a device or module with its initial twin document. Throws 409001/409301 if it exists.
    func createDevice(_ record: DeviceRecord, twin: String) async throws -> DeviceRecord
    /// Changes a device atomically: `transform` sees the current record; the version increases by one.
    func updateDevice(_ identity: DeviceIdentity, condition: ETagCondition,
                      _ transform: @escaping @Sendable (inout DeviceRecord) throws -> Void) async throws -> DeviceRecord
    /// Records connection states and activity without changing the etags, in the order given (a device that
    /// reconnected quickly ends up with its last state): one transaction for the batch.
    func recordConnections(_ changes: [ConnectionChange]) async throws
    /// Deletes a device (with its modules, twins and queued messages) or a module.
    func deleteDevice(_ identity: DeviceIdentity, condition: ETagCondition) async throws -> DeviceRecord
    /// Devices ordered by id, after `deviceId` (exclusive), at most `limit`; modules are not included.
    func devices(after deviceId: String?, limit: Int) async throws -> [DeviceRecord]
    /// The modules of a device.
    func modules(of deviceId: String) async throws -> [DeviceRecord]
    /// Counts of devices (not modules): total, enabled, disabled.
    func deviceCounts() async throws -> (total: Int, enabled: Int, disabled: Int)
    /// Applies a bulk registry call's changes in order, each atomically on its own: a change that fails leaves
    /// no trace and its error takes its place in the result; the others commit together, before this returns.
    /// - Throws: when nothing could be committed (then none of the changes happened).
    func applyRegistryChanges(_ changes: [RegistryChange]) async throws -> [Result<RegistryChangeOutcome, HubError>]

    // MARK: Twins
    /// The stored twin document of a device or module.
    func twin(_ identity: DeviceIdentity) async throws -> (record: DeviceRecord, document: String)?
    /// Reads, transforms and writes a twin document atomically; returns what `transform` returns.
    func updateTwin<Result: Sendable>(
        _ identity: DeviceIdentity,
        _ transform: @escaping @Sendable (DeviceRecord, String) throws -> (document: String, result: Result)
    ) async throws -> Result
    /// Twins of devices (and optionally modules) ordered by identity, after `cursor`, at most `limit`.
    func twins(after cursor: DeviceIdentity?, includeModules: Bool, limit: Int) async throws
        -> [(record: DeviceRecord, document: String)]

    // MARK: Telemetry
    /// Appends records, in order, in one transaction; `completion` runs once they are durable (group commit), with
    /// their sequence numbers: consecutive, the first record's first.
    func appendEvents(_ records: [EventRecord],
                      completion: @escaping @Sendable (Result<ClosedRange<Int64>, Error>) -> Void)
    /// The built-in endpoint's messages after `sequenceNumber`, oldest first, optionally for one device.
    func events(after sequenceNumber: Int64, deviceId: String?, limit: Int) async throws -> [StoredEvent]
    /// The newest sequence number (0 when empty).
    func lastEventSequenceNumber() async throws -> Int64
    /// Deletes events older than `cutoff`, then the oldest ones while the log holds more than `maximumBytes`.
    func pruneEvents(olderThan cutoff: Date, maximumBytes: Int64) async throws -> Int

    // MARK: Event-stream partitions
    /// A setting the hub keeps with its data (`event_partitions`, `event_hub_created_ms`); `nil` when unset.
    func setting(_ key: String) async throws -> String?
    /// Stores a setting.
    func saveSetting(_ key: String, _ value: String) async throws
    /// A partition's messages with a partition sequence number above `sequenceNumber`, oldest first.
    /// - Parameter stream: the event stream (0 is the built-in endpoint, others custom event-stream endpoints).
    func partitionEvents(_ partition: Int, stream: Int, after sequenceNumber: Int64, limit: Int) async throws -> [StoredEvent]
    /// What a partition holds and last received.
    func partitionState(_ partition: Int, stream: Int) async throws -> EventPartitionState
    /// The partition sequence number just before the first message at or after `position`: a reader that starts
    /// there reads from `position` on. A position past the newest message gives the newest's.
    func partitionCursor(_ partition: Int, stream: Int, at position: EventPosition) async throws -> Int64
    /// The consumer groups created for an event stream (`$Default` is implicit and not stored), by name.
    func consumerGroups(entity: String) async throws -> [ConsumerGroupRecord]
    /// Creates a consumer group; `false` when one of that name (compared without case) exists.
    func createConsumerGroup(_ group: ConsumerGroupRecord, entity: String) async throws -> Bool
    /// Deletes a consumer group; `false` when there is none of that name.
    func deleteConsumerGroup(_ name: String, entity: String) async throws -> Bool

    // MARK: Cloud-to-device
    /// Queues a message; throws 403004 when the device already has `limit` pending messages.
    func enqueueCloudToDevice(_ message: CloudToDeviceEnvelope, limit: Int) async throws
    /// Locks and returns up to `maximum` deliverable messages (enqueued, or whose lock expired) for a device,
    /// incrementing their delivery count; expired or over-delivered ones are dead-lettered and returned in
    /// `deadLettered` so feedback can be sent.
    func lockCloudToDevice(_ identity: DeviceIdentity, now: Date, lockDuration: TimeInterval, maximum: Int,
                           maximumDeliveryCount: Int) async throws
        -> (locked: [CloudToDeviceEnvelope], deadLettered: [(CloudToDeviceEnvelope, C2DFeedbackStatus)])
    /// Completes, abandons or rejects a locked message by lock token. Throws 412020 when the lock is unknown.
    func settleCloudToDevice(_ identity: DeviceIdentity, lockToken: String, disposition: C2DDisposition) async throws
        -> CloudToDeviceEnvelope
    /// Returns every locked message of a device to the queue (its connection dropped before settling).
    func releaseCloudToDeviceLocks(_ identity: DeviceIdentity) async throws
    /// Pending (enqueued or locked) messages of a device.
    func pendingCloudToDeviceCount(_ identity: DeviceIdentity) async throws -> Int
    /// Removes every pending message of a device; returns them for `Purged` feedback.
    func purgeCloudToDevice(_ identity: DeviceIdentity) async throws -> [CloudToDeviceEnvelope]

    // MARK: File uploads
    /// Records a new upload unless the device already has `maximumActive` in progress at `record.created`.
    /// - Throws: ``HubError`` `DeviceMaximumActiveFileUploadLimitExceeded`.
    func beginFileUpload(_ record: FileUploadRecord, maximumActive: Int) async throws -> FileUploadRecord
    /// Records the device's outcome report; a successful upload with a committed `blob` becomes a pending
    /// notification. Reporting the same outcome again returns the first report.
    func finishFileUpload(correlationId: String, deviceId: String, outcome: FileUploadRecord.Outcome,
                          blob: (size: Int64, updated: Date)?) async throws -> FileUploadRecord
    func fileUpload(correlationId: String) async throws -> FileUploadRecord?
    /// Uploads in the order they were asked for, after `sequenceNumber`, optionally of one device.
    func fileUploads(deviceId: String?, after sequenceNumber: Int64, limit: Int) async throws -> [FileUploadRecord]
    /// The oldest notifications not yet delivered, other than those `taken` by attached links.
    func pendingFileNotifications(excluding taken: Set<String>, limit: Int) async throws -> [FileUploadRecord]
    /// Marks notifications a back end accepted.
    func markFileNotificationsDelivered(_ correlationIds: [String]) async throws

    // MARK: Routing
    /// Up to `limit` routed messages a storage endpoint has not written yet, oldest first.
    func outbox(endpoint: String, limit: Int) async throws -> [OutboxMessage]
    /// What a storage endpoint's outbox holds: messages, bytes and the oldest's enqueued time (ms), or `nil` when empty.
    func outboxSummary(endpoint: String) async throws -> (messages: Int, bytes: Int64, oldestMilliseconds: Int64)?
    /// Removes written messages (ids up to and including `id`) from a storage endpoint's outbox.
    func removeFromOutbox(endpoint: String, through id: Int64) async throws
    /// Removes every message of an endpoint's outbox (the endpoint was deleted); returns how many.
    func clearOutbox(endpoint: String) async throws -> Int
}

/// A routed message waiting in a storage endpoint's outbox.
public struct OutboxMessage: Sendable {
    /// Its position in the outbox.
    public var id: Int64
    /// The built-in endpoint's partition of its sender, for the blob name.
    public var partition: Int
    /// When the hub accepted it, in milliseconds since 1970.
    public var enqueuedMilliseconds: Int64
    /// The payload.
    public var body: [UInt8]
    /// Application properties (with the endpoint's enrichments).
    public var properties: [String: String]
    /// System properties by their `iothub-…`/AMQP names.
    public var system: [String: String]
    /// What it counts toward a batch's chunk size, as the outbox summary counts it (``EventRecord/size``).
    public var size: Int64

    /// A message as the outbox holds it.
    public init(id: Int64, partition: Int, enqueuedMilliseconds: Int64, body: [UInt8], properties: [String: String],
                system: [String: String], size: Int64) {
        self.size = size
        self.id = id
        self.partition = partition
        self.enqueuedMilliseconds = enqueuedMilliseconds
        self.body = body
        self.properties = properties
        self.system = system
    }
}

/// A cloud-to-device message in a device queue.
public struct CloudToDeviceEnvelope: Sendable, Hashable {
    public var identity: DeviceIdentity
    public var message: IoTHubMessage
    public var enqueuedTime: Date
    public var expiryTime: Date
    public var deliveryCount: Int
    /// Set while the message is locked by a delivery.
    public var lockToken: String?
    public var acknowledgement: C2DAcknowledgement

    public init(identity: DeviceIdentity, message: IoTHubMessage, enqueuedTime: Date, expiryTime: Date,
                deliveryCount: Int = 0, lockToken: String? = nil, acknowledgement: C2DAcknowledgement = .none) {
        self.identity = identity
        self.message = message
        self.enqueuedTime = enqueuedTime
        self.expiryTime = expiryTime
        self.deliveryCount = deliveryCount
        self.lockToken = lockToken
        self.acknowledgement = acknowledgement
    }
}

/// A device or module session opened or closed, as the registry records it (``HubStore/recordConnections(_:)``).
public struct ConnectionChange: Sendable {
    public let identity: DeviceIdentity
    public let state: ConnectionState
    public let time: Date

    public init(_ identity: DeviceIdentity, _ state: ConnectionState, at time: Date) {
        self.identity = identity
        self.state = state
        self.time = time
    }
}

extension HubStore {
    /// The built-in endpoint's ``partitionEvents(_:stream:after:limit:)``.
    public func partitionEvents(_ partition: Int, after sequenceNumber: Int64, limit: Int) async throws -> [StoredEvent] {
        try await partitionEvents(partition, stream: 0, after: sequenceNumber, limit: limit)
    }

    /// The built-in endpoint's ``partitionState(_:stream:)``.
    public func partitionState(_ partition: Int) async throws -> EventPartitionState {
        try await partitionState(partition, stream: 0)
    }

    /// The built-in endpoint's ``partitionCursor(_:stream:at:)``.
    public func partitionCursor(_ partition: Int, at position: EventPosition) async throws -> Int64 {
        try await partitionCursor(partition, stream: 0, at: position)
    }

    /// Records one identity's connection state and activity without changing its etag.
    public func recordConnection(_ identity: DeviceIdentity, state: ConnectionState, at time: Date) async throws {
        try await recordConnections([ConnectionChange(identity, state, at: time)])
    }
}
