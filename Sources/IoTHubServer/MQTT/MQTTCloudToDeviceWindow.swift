import IoTHubCore
import NIOCore

/// Cloud-to-device messages delivered over QoS 1 and not yet acknowledged, keyed by packet id: the hub core's
/// ``CloudToDeviceCredit`` with a fixed window (MQTT has no credit of its own) and packet-id allocation.
///
/// IoT Hub delivers C2D over QoS 1 and a PUBACK completes the message. A message is locked in the store while it
/// is in flight; a lock that expires before the PUBACK makes the message deliverable again (at least once), and
/// its entry frees its place.
struct MQTTCloudToDeviceWindow {
    /// The most messages in flight on one connection.
    let capacity: Int
    private var credit = CloudToDeviceCredit<UInt16>()
    private var lastPacketId: UInt16 = 0

    init(capacity: Int) {
        self.capacity = capacity
    }

    var inFlight: [UInt16: CloudToDeviceCredit<UInt16>.Delivery] { credit.inFlight }

    /// Free places.
    var available: Int { max(0, capacity - credit.inFlight.count) }

    /// How many messages to lock now (expired deliveries first give back their places); 0 while a fetch is under
    /// way.
    mutating func startFetch(now: NIODeadline, lock: TimeAmount) -> Int {
        credit.startFetch(window: capacity, now: Self.duration(now), lock: .nanoseconds(lock.nanoseconds))
    }

    /// A fetch ended; `true` when another should follow at once.
    mutating func fetched(_ count: Int, requested: Int) -> Bool {
        credit.fetched(count, requested: requested)
    }

    /// Records a delivery and returns its packet id (non-zero, not in use).
    mutating func add(lockToken: String, now: NIODeadline) -> UInt16 {
        repeat {
            lastPacketId = lastPacketId == .max ? 1 : lastPacketId + 1
        } while credit.inFlight[lastPacketId] != nil
        credit.sent(lastPacketId, lockToken: lockToken, now: Self.duration(now))
        return lastPacketId
    }

    /// The lock token acknowledged by a PUBACK, if the packet id is in flight.
    mutating func acknowledge(_ packetId: UInt16) -> String? {
        credit.settled(packetId)
    }

    /// Drops deliveries sent before `deadline` (their locks have expired); returns how many.
    @discardableResult
    mutating func expire(before deadline: NIODeadline) -> Int {
        credit.expire(before: Self.duration(deadline))
    }

    /// Empties the window, returning the lock tokens still held.
    mutating func removeAll() -> [String] {
        credit.removeAll()
    }

    private static func duration(_ deadline: NIODeadline) -> Duration {
        .nanoseconds(Int64(deadline.uptimeNanoseconds))
    }
}
