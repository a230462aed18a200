/// Event Hubs' `$management` node: a request for the event hub's or a partition's properties, and its answer.
///
/// A request carries application properties `operation` (`READ`), `type` (`com.microsoft:eventhub` or
/// `com.microsoft:partition`), `name` (the event hub), `partition` (for a partition) and, optionally,
/// `security_token`. The answer echoes the request's message id as its correlation id (same AMQP type), has
/// application properties `status-code` (int) and `status-description` (also as `statusDescription`, which the
/// Python client reads), and an AMQP-value map body.
public struct EventHubManagementRequest: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case eventHub
        case partition(String)
    }

    public var kind: Kind
    /// The event hub the request names.
    public var name: String
    /// The SAS token in `security_token`, when the request carries one.
    public var securityToken: String?
    public var messageId: AMQPValue?

    public static let eventHubType = "com.microsoft:eventhub"
    public static let partitionType = "com.microsoft:partition"

    /// Reads a request.
    /// - Throws: ``EventHubManagementError`` naming what is missing or unsupported (answered with 400).
    public init(_ message: AMQPMessage) throws(EventHubManagementError) {
        messageId = message.messageId
        let properties = message.applicationProperties
        guard let operation = properties["operation"]?.text else {
            throw EventHubManagementError(status: 400, "the request has no 'operation' application property")
        }
        guard operation.uppercased() == "READ" else {
            throw EventHubManagementError(status: 400, "operation '\(operation)' is not supported; this node answers READ")
        }
        guard let name = properties["name"]?.text, !name.isEmpty else {
            throw EventHubManagementError(status: 400, "the request has no 'name' application property (the event hub)")
        }
        self.name = name
        securityToken = properties["security_token"]?.text
        switch properties["type"]?.text {
        case Self.eventHubType?:
            kind = .eventHub
        case Self.partitionType?:
            guard let partition = properties["partition"]?.text, !partition.isEmpty else {
                throw EventHubManagementError(status: 400, "a partition request needs a 'partition' application property")
            }
            kind = .partition(partition)
        case let other:
            throw EventHubManagementError(status: 400, "type '\(other ?? "")' is not \(Self.eventHubType) or \(Self.partitionType)")
        }
    }

    /// The answer to an event hub request.
    public static func eventHubAnswer(to messageId: AMQPValue?, name: String, createdAtMilliseconds: Int64,
                                      partitionIds: [String]) -> AMQPMessage {
        answer(to: messageId, status: 200, description: "OK", body: .map([
            .init(.string("name"), .string(name)),
            .init(.string("type"), .string(eventHubType)),
            .init(.string("created_at"), .timestamp(createdAtMilliseconds)),
            .init(.string("partition_count"), .int(Int32(partitionIds.count))),
            .init(.string("partition_ids"), .array(partitionIds.map(AMQPValue.string))),
        ]))
    }

    /// The answer to a partition request.
    public static func partitionAnswer(to messageId: AMQPValue?, name: String, partition: String,
                                       properties: EventPartitionState) -> AMQPMessage {
        answer(to: messageId, status: 200, description: "OK", body: .map([
            .init(.string("name"), .string(name)),
            .init(.string("type"), .string(partitionType)),
            .init(.string("partition"), .string(partition)),
            .init(.string("begin_sequence_number"), .long(properties.beginSequenceNumber)),
            .init(.string("last_enqueued_sequence_number"), .long(properties.lastSequenceNumber)),
            .init(.string("last_enqueued_offset"), .string(String(properties.lastOffset))),
            .init(.string("last_enqueued_time_utc"), .timestamp(properties.lastEnqueuedMilliseconds)),
            .init(.string("is_partition_empty"), .bool(properties.isEmpty)),
        ]))
    }

    /// An answer with a status and no body (errors), or with `body`.
    public static func answer(to messageId: AMQPValue?, status: Int32, description: String,
                              body: AMQPValue? = nil) -> AMQPMessage {
        var message = AMQPMessage(applicationProperties: [
            "status-code": .int(status),
            "status-description": .string(description),
            "statusDescription": .string(description),
        ])
        message.correlationId = messageId
        if let body { message.body = .value(body) }
        return message
    }
}

/// A `$management` request the node cannot answer, with the status it gets.
public struct EventHubManagementError: Error, Sendable, Hashable, CustomStringConvertible {
    public var status: Int32
    public var reason: String

    public init(status: Int32, _ reason: String) {
        self.status = status
        self.reason = reason
    }

    public var description: String { reason }
}

/// A partition of the event log, as Event Hubs' `$management` reports it.
public struct EventPartitionState: Sendable, Hashable {
    /// The oldest kept message's partition sequence number (the newest's when the partition is empty; -1 when it
    /// never had one).
    public var beginSequenceNumber: Int64
    /// The newest message's partition sequence number; -1 when it never had one. It survives retention.
    public var lastSequenceNumber: Int64
    /// The newest message's offset; -1 when it never had one.
    public var lastOffset: Int64
    /// When the newest message was enqueued, in milliseconds since 1970; 0 when it never had one.
    public var lastEnqueuedMilliseconds: Int64
    /// Whether the partition keeps no message now.
    public var isEmpty: Bool

    public init(beginSequenceNumber: Int64, lastSequenceNumber: Int64, lastOffset: Int64,
                lastEnqueuedMilliseconds: Int64, isEmpty: Bool) {
        self.beginSequenceNumber = beginSequenceNumber
        self.lastSequenceNumber = lastSequenceNumber
        self.lastOffset = lastOffset
        self.lastEnqueuedMilliseconds = lastEnqueuedMilliseconds
        self.isEmpty = isEmpty
    }
}
