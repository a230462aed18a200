import Foundation
import IoTHubProtocol
import Logging

/// An Event Hubs-compatible event stream: the built-in endpoint (`events`, stream 0) or a custom event-stream
/// routing endpoint (its own stream number and `EntityPath`): its partitions, consumer groups and receivers, over
/// the hub's event log, the same for every protocol head that serves it.
///
/// Messages are partitioned as they are stored (``EventService/partitioner``); each partition numbers its
/// messages from 0. A message's Event Hubs offset is its position in the whole log, so offsets grow within a
/// partition and are never reused. Retention is the log's (``EventService/retention`` and
/// ``EventService/maximumBytes``), shared by every consumer group.
public final class EventHubService: Sendable {
    /// The event hub's name: the connection string's `EntityPath` and the first part of receiver addresses.
    public let name: String
    /// The stream's number in the event log: 0 for the built-in endpoint.
    public let stream: Int
    public let partitioner: EventHubPartitioner
    /// When the endpoint was created (the data directory's first start), for `created_at`.
    public let createdAt: Date
    /// Epoch and receiver-count rules per consumer group and partition.
    public let ownership: PartitionOwnership
    let store: any HubStore
    let signal: EventLogSignal
    let logger: Logger

    /// The consumer group every event hub has, which cannot be deleted.
    public static let defaultConsumerGroup = "$Default"

    public convenience init(name: String, events: EventService, store: any HubStore, createdAt: Date, logger: Logger,
                            maximumReceiversPerPartition: Int = 5) {
        self.init(name: name, stream: 0, partitioner: events.partitioner, signal: events.signal, store: store,
                  createdAt: createdAt, logger: logger, maximumReceiversPerPartition: maximumReceiversPerPartition)
    }

    /// - Parameters:
    ///   - stream: the stream's number in the log (0 is the built-in endpoint).
    ///   - signal: the log's append signal, which wakes receivers.
    public init(name: String, stream: Int, partitioner: EventHubPartitioner, signal: EventLogSignal, store: any HubStore,
                createdAt: Date, logger: Logger, maximumReceiversPerPartition: Int = 5) {
        self.name = name
        self.stream = stream
        self.signal = signal
        self.partitioner = partitioner
        self.store = store
        self.createdAt = createdAt
        self.logger = logger
        ownership = PartitionOwnership(maximumReceivers: maximumReceiversPerPartition)
    }

    /// The default event hub name for a hub reached at `hostName`: its first label for a DNS name
    /// (`myhub.example.net` → `myhub`), else `iothub`.
    public static func defaultName(hostName: String) -> String {
        let lower = hostName.lowercased()
        let isAddress = lower.split(separator: ".").allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) } || lower.contains(":")
        guard !isAddress, lower != "localhost", let label = lower.split(separator: ".").first, !label.isEmpty else {
            return "iothub"
        }
        return String(label)
    }

    /// Whether `entity` names this event hub (compared without case, as Event Hubs does).
    public func isNamed(_ entity: String) -> Bool {
        entity.lowercased() == name.lowercased()
    }

    // MARK: Partitions

    /// The partition `id` names, or 404-style error text for the receiver or management caller.
    public func partition(id: String) throws(HubError) -> Int {
        guard let partition = partitioner.partition(id: id) else {
            throw HubError(.argumentInvalid, "partition '\(id)' does not exist; '\(name)' has partitions 0 to \(partitioner.count - 1)")
        }
        return partition
    }

    /// A partition's sequence numbers, newest offset and time.
    public func partitionState(_ partition: Int) async throws -> EventPartitionState {
        try await store.partitionState(partition, stream: stream)
    }

    /// Where a receiver starting at `position` begins: it reads messages with a partition sequence number above
    /// the returned cursor.
    public func cursor(_ partition: Int, at position: EventPosition) async throws -> Int64 {
        try await store.partitionCursor(partition, stream: stream, at: position)
    }

    /// Up to `limit` messages of a partition after `cursor`, oldest first.
    public func read(_ partition: Int, after cursor: Int64, limit: Int) async throws -> [StoredEvent] {
        try await store.partitionEvents(partition, stream: stream, after: cursor, limit: limit)
    }

    /// Returns when this process appended a message after log position `offset`, or after `timeout`, whichever
    /// comes first (receivers then read again, which also picks up messages other hub nodes appended).
    public func waitForAppend(after offset: Int64, timeout: Duration) async {
        await signal.wait(after: offset, timeout: timeout)
    }

    /// The log position this process appended last.
    public var lastAppendedOffset: Int64 { signal.lastAppended }

    // MARK: Consumer groups

    /// Every consumer group, `$Default` first.
    public func consumerGroups() async throws -> [ConsumerGroupRecord] {
        [ConsumerGroupRecord(name: Self.defaultConsumerGroup, createdMilliseconds: createdAt.milliseconds)]
            + (try await store.consumerGroups(entity: name))
    }

    /// Whether the consumer group exists (names compare without case).
    public func consumerGroupExists(_ group: String) async throws -> Bool {
        if group.lowercased() == Self.defaultConsumerGroup.lowercased() { return true }
        return try await store.consumerGroups(entity: name).contains { $0.name.lowercased() == group.lowercased() }
    }

    /// Creates a consumer group.
    /// - Throws: 400004 for a name Event Hubs refuses, 409150 when it exists.
    @discardableResult
    public func createConsumerGroup(_ group: String, now: Date = Date()) async throws -> ConsumerGroupRecord {
        try Self.validateConsumerGroupName(group)
        let record = ConsumerGroupRecord(name: group, createdMilliseconds: now.milliseconds)
        guard group.lowercased() != Self.defaultConsumerGroup.lowercased(),
              try await store.createConsumerGroup(record, entity: name) else {
            throw HubError(.consumerGroupAlreadyExists, "consumer group '\(group)' already exists on '\(name)'")
        }
        logger.info("consumer group created", metadata: ["eventHub": "\(name)", "group": "\(group)"])
        return record
    }

    /// Deletes a consumer group; its receivers keep reading until they detach.
    /// - Throws: 400004 for `$Default`, 404150 when there is none of that name.
    public func deleteConsumerGroup(_ group: String) async throws {
        guard group.lowercased() != Self.defaultConsumerGroup.lowercased() else {
            throw HubError(.argumentInvalid, "the $Default consumer group cannot be deleted")
        }
        guard try await store.deleteConsumerGroup(group, entity: name) else {
            throw HubError(.consumerGroupNotFound, "consumer group '\(group)' does not exist on '\(name)'")
        }
        logger.info("consumer group deleted", metadata: ["eventHub": "\(name)", "group": "\(group)"])
    }

    /// Event Hubs' rule for consumer group names: 1 to 50 letters, digits, periods, hyphens and underscores,
    /// starting and ending with a letter or digit.
    public static func validateConsumerGroupName(_ group: String) throws(HubError) {
        let characters = Array(group.unicodeScalars)
        func alphanumeric(_ c: Unicode.Scalar) -> Bool { c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c)) }
        guard (1...50).contains(characters.count) else {
            throw HubError(.argumentInvalid, "a consumer group name has 1 to 50 characters; '\(group)' has \(characters.count)")
        }
        guard characters.allSatisfy({ alphanumeric($0) || $0 == "." || $0 == "-" || $0 == "_" }) else {
            throw HubError(.argumentInvalid, "consumer group '\(group)': only letters, digits, '.', '-' and '_' are allowed")
        }
        guard alphanumeric(characters.first!), alphanumeric(characters.last!) else {
            throw HubError(.argumentInvalid, "consumer group '\(group)' must start and end with a letter or digit")
        }
    }
}
