/// Cloud-to-device deliveries in flight on one device link, and how many more the device will take: the state
/// behind C2D delivery by credit, whatever the protocol (MQTT's window of in-flight QoS 1 publishes, AMQP link
/// credit).
///
/// A message is locked in the store while it is in flight. A lock that expires before the device settles the
/// message makes it deliverable again (at least once), so entries older than the lock are dropped by
/// ``expire(before:)`` and free their place. Times are any monotonic reading (the head's clock).
package struct CloudToDeviceCredit<Key: Hashable> {
    package struct Delivery {
        package var lockToken: String
        package var sentAt: Duration
    }

    package private(set) var inFlight: [Key: Delivery] = [:]
    /// A fetch from the store is under way.
    package private(set) var fetching = false
    /// More messages were announced while a fetch was under way.
    private var wanted = false

    package init() {}

    /// How many messages to lock now: the room left in a window of `window` deliveries in flight, after the
    /// expired ones gave theirs back, and no more than the device's `credit` (AMQP link credit; MQTT has none).
    /// 0 while a fetch is under way (it is remembered and ``fetched(_:requested:)`` says to fetch again).
    package mutating func startFetch(window: Int, credit: Int = .max, now: Duration, lock: Duration) -> Int {
        expire(before: now - lock)
        guard !fetching else {
            wanted = true
            return 0
        }
        let room = min(credit, window - inFlight.count)
        guard room > 0 else { return 0 }
        fetching = true
        wanted = false
        return room
    }

    /// A fetch ended with `count` of `requested` messages; `true` when another fetch should follow at once.
    package mutating func fetched(_ count: Int, requested: Int) -> Bool {
        fetching = false
        return wanted || (requested > 0 && count == requested)
    }

    /// Records a delivery sent under `key`.
    package mutating func sent(_ key: Key, lockToken: String, now: Duration) {
        inFlight[key] = Delivery(lockToken: lockToken, sentAt: now)
    }

    /// The lock token the device settled with `key`, if that delivery is in flight.
    package mutating func settled(_ key: Key) -> String? {
        inFlight.removeValue(forKey: key)?.lockToken
    }

    /// Drops deliveries sent before `deadline` (their locks have expired); returns how many.
    @discardableResult
    package mutating func expire(before deadline: Duration) -> Int {
        let stale = inFlight.filter { $0.value.sentAt < deadline }.map(\.key)
        for key in stale { inFlight[key] = nil }
        return stale.count
    }

    /// Empties the state, returning the lock tokens still held (to abandon).
    package mutating func removeAll() -> [String] {
        defer { inFlight.removeAll() }
        return inFlight.values.map(\.lockToken)
    }
}
