import NIOCore

/// Cloud-to-device messages delivered over QoS 1 and not yet acknowledged, keyed by packet id.
///
/// IoT Hub delivers C2D over QoS 1 and a PUBACK completes the message. A message is locked in the store while it
/// is in flight; a lock that expires before the PUBACK makes the message deliverable again (at least once), so
/// entries older than the lock are dropped by ``expire(before:)`` and free their slot.
struct MQTTCloudToDeviceWindow {
    struct Delivery {
        var lockToken: String
        var sentAt: NIODeadline
    }

    /// The most messages in flight on one connection.
    let capacity: Int
    private(set) var inFlight: [UInt16: Delivery] = [:]
    private var lastPacketId: UInt16 = 0

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Free slots.
    var available: Int { max(0, capacity - inFlight.count) }

    /// Records a delivery and returns its packet id (non-zero, not in use).
    mutating func add(lockToken: String, now: NIODeadline) -> UInt16 {
        repeat {
            lastPacketId = lastPacketId == .max ? 1 : lastPacketId + 1
        } while inFlight[lastPacketId] != nil
        inFlight[lastPacketId] = Delivery(lockToken: lockToken, sentAt: now)
        return lastPacketId
    }

    /// The lock token acknowledged by a PUBACK, if the packet id is in flight.
    mutating func acknowledge(_ packetId: UInt16) -> String? {
        inFlight.removeValue(forKey: packetId)?.lockToken
    }

    /// Drops deliveries sent before `deadline` (their locks have expired); returns how many.
    @discardableResult
    mutating func expire(before deadline: NIODeadline) -> Int {
        let stale = inFlight.filter { $0.value.sentAt < deadline }.map(\.key)
        for packetId in stale { inFlight[packetId] = nil }
        return stale.count
    }

    /// Empties the window, returning the lock tokens still held.
    mutating func removeAll() -> [String] {
        defer { inFlight.removeAll() }
        return inFlight.values.map(\.lockToken)
    }
}
