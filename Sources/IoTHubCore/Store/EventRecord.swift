import IoTHubProtocol

/// A device-to-cloud message as the event log stores it: stamped, with its properties already encoded, so that
/// the store's writer thread does nothing but write.
///
/// ``EventService/record(_:from:at:)`` makes one; ``HubStore/appendEvents(_:completion:)`` appends a batch of them.
public struct EventRecord: Sendable {
    /// The sending device or module.
    public var identity: DeviceIdentity
    /// When the hub accepted the message, in milliseconds since 1970.
    public var enqueuedMilliseconds: Int64
    /// The payload.
    public var body: [UInt8]
    /// Application properties: a JSON object of strings (``JSONStringMembers``).
    public var properties: [UInt8]
    /// System properties by their `iothub-…`/AMQP names, the hub's stamps included: a JSON object of strings.
    public var system: [UInt8]
    /// The event-stream partition it goes to (``EventHubPartitioner``); the store numbers it within that partition.
    public var partition: Int
    /// Where the store puts it: an event stream (the built-in endpoint's, or a custom endpoint's), or a storage
    /// endpoint's outbox, from which ``StorageEndpointWriter`` writes batches.
    public var destination: Destination
    /// What produced it, for routes: telemetry, or one of IoT Hub's system events.
    public var source: RouteSource

    /// Where a record is stored.
    public enum Destination: Sendable, Hashable {
        /// An event stream, by number: 0 is the built-in endpoint (``EventStreamDirectory/builtIn``).
        case stream(Int)
        /// A storage endpoint's outbox, by endpoint name.
        case storage(String)
    }

    public init(identity: DeviceIdentity, enqueuedMilliseconds: Int64, body: [UInt8], properties: [UInt8],
                system: [UInt8], partition: Int = 0, destination: Destination = .stream(0), source: RouteSource = .deviceMessages) {
        self.partition = partition
        self.destination = destination
        self.source = source
        self.identity = identity
        self.enqueuedMilliseconds = enqueuedMilliseconds
        self.body = body
        self.properties = properties
        self.system = system
    }

    /// What the record counts against the log's size bound.
    public var size: Int64 { Int64(body.count + properties.count + system.count) }
}
