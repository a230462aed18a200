/// Which partition of the built-in endpoint (or of a custom event-stream endpoint) a device's messages go to.
///
/// Every message of one device lands in one partition, so a reader of that partition sees the device's messages
/// in the order the hub accepted them. The partition is the 32-bit FNV-1a hash of the device id's UTF-8 bytes,
/// modulo the partition count: stable across restarts, hub versions and nodes. A module's messages go with its
/// device's.
///
/// ```swift
/// let partitioner = EventHubPartitioner(count: 4)
/// partitioner.partition(for: "thermostat-17")   // 0...3, the same on every call
/// ```
public struct EventHubPartitioner: Sendable, Hashable {
    /// How many partitions there are (1...32, as in IoT Hub).
    public let count: Int

    /// The partition counts IoT Hub allows.
    public static let allowedCounts = 1...32

    /// - Precondition: `count` is in ``allowedCounts``.
    public init(count: Int) {
        precondition(Self.allowedCounts.contains(count), "an event hub has 1 to 32 partitions")
        self.count = count
    }

    /// The partition of `deviceId`'s messages.
    public func partition(for deviceId: String) -> Int {
        var hash: UInt32 = 2_166_136_261
        for byte in deviceId.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        return Int(hash % UInt32(count))
    }

    /// The partition ids as Event Hubs names them: `"0"`, `"1"`, …
    public var partitionIds: [String] { (0..<count).map(String.init) }

    /// The partition an id names, or `nil` when it names none.
    public func partition(id: String) -> Int? {
        guard let value = Int(id), String(value) == id, (0..<count).contains(value) else { return nil }
        return value
    }
}
