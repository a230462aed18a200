import Synchronization

/// Numbers for outbound items and waiters, unique per client whichever thread asks: the public API numbers a
/// message before it reaches the loop (so cancellation can name it), the loop numbers its own twin requests and
/// method responses, and all of them share the queue.
final class ItemIdentifiers: Sendable {
    private let next = Atomic<UInt64>(1)

    func make() -> UInt64 { next.add(1, ordering: .relaxed).oldValue }
}

/// An operation on its way to the hub: telemetry, a twin request or a method response. Protocol-neutral: the
/// transport turns the operation into topics or links when it sends it.
struct OutboundItem: Sendable {
    enum Kind: Sendable, Hashable {
        case telemetry
        case twinRequest(requestId: String)
        case methodResponse
    }

    let id: UInt64
    let operation: DeviceTransportOperation

    var kind: Kind {
        switch operation {
        case .telemetry: .telemetry
        case .twinGet(let requestId), .twinPatchReported(let requestId, _): .twinRequest(requestId: requestId)
        case .methodResponse: .methodResponse
        }
    }

    var size: Int { operation.size }
}

/// The client's bounded outbound queue: items waiting to be sent, and items handed to the connection and not yet
/// acknowledged (in flight). Sans-IO; the client core drives it on its loop.
///
/// The bounds cover both parts, so memory stays bounded whatever the connection does. When a connection drops,
/// its in-flight items go back to the front of the queue, in their original order, and are sent again on the next
/// connection (at least once).
struct OutboundQueue {
    enum EnqueueResult {
        case queued
        /// The queue is full; nothing changed.
        case full
        /// Queued after evicting the oldest waiting item (policy `dropOldest`).
        case queuedEvicting(OutboundItem)
    }

    let maximumMessages: Int
    let maximumBytes: Int
    private var waiting: [OutboundItem] = []
    private var head = 0
    private(set) var inFlight: [DeviceTransportTag: OutboundItem] = [:]
    private(set) var bytes = 0

    init(maximumMessages: Int, maximumBytes: Int) {
        self.maximumMessages = max(1, maximumMessages)
        self.maximumBytes = max(1, maximumBytes)
    }

    /// Items held (waiting and in flight).
    var count: Int { waiting.count - head + inFlight.count }
    /// Items waiting to be sent.
    var waitingCount: Int { waiting.count - head }
    var isEmpty: Bool { count == 0 }

    /// Whether `size` more bytes and one more item fit.
    func hasRoom(for size: Int) -> Bool {
        count < maximumMessages && (bytes + size <= maximumBytes || count == 0)
    }

    /// Adds an item at the back; with `evictOldest`, makes room by dropping the oldest waiting item.
    mutating func enqueue(_ item: OutboundItem, evictOldest: Bool) -> EnqueueResult {
        if hasRoom(for: item.size) {
            append(item)
            return .queued
        }
        guard evictOldest, waitingCount > 0 else { return .full }
        let evicted = waiting[head]
        head += 1
        bytes -= evicted.size
        guard hasRoom(for: item.size) else {
            // Still no room (the new item is bigger than what one eviction frees): put the evicted one back.
            head -= 1
            bytes += evicted.size
            return .full
        }
        append(item)
        compact()
        return .queuedEvicting(evicted)
    }

    private mutating func append(_ item: OutboundItem) {
        waiting.append(item)
        bytes += item.size
    }

    /// Takes the next waiting item to send.
    mutating func next() -> OutboundItem? {
        guard head < waiting.count else { return nil }
        let item = waiting[head]
        head += 1
        compact()
        return item
    }

    /// Puts an item taken with ``next()`` back at the front (the connection could not take it).
    mutating func putBack(_ item: OutboundItem) {
        if head > 0 {
            head -= 1
            waiting[head] = item
        } else {
            waiting.insert(item, at: 0)
        }
    }

    /// Puts an acknowledged item back at the front, counting it again (a twin request whose answer was lost with
    /// the connection). Ignores the bounds: the item was admitted before.
    mutating func requeue(_ item: OutboundItem) {
        putBack(item)
        bytes += item.size
    }

    /// Records that `item` was handed to the transport, which named it `tag`.
    mutating func sent(_ item: OutboundItem, tag: DeviceTransportTag) {
        inFlight[tag] = item
    }

    /// The item the transport acknowledged as `tag`, removed from the queue.
    mutating func acknowledge(_ tag: DeviceTransportTag) -> OutboundItem? {
        guard let item = inFlight.removeValue(forKey: tag) else { return nil }
        bytes -= item.size
        return item
    }

    /// Moves every in-flight item back to the front of the queue, oldest first (the connection dropped).
    mutating func requeueInFlight() {
        guard !inFlight.isEmpty else { return }
        let returning = inFlight.values.sorted { $0.id < $1.id }
        inFlight.removeAll()
        waiting = returning + waiting[head...]
        head = 0
    }

    /// Removes a waiting or in-flight item by id (its sender gave up).
    mutating func remove(id: UInt64) -> OutboundItem? {
        if let index = waiting[head...].firstIndex(where: { $0.id == id }) {
            let item = waiting.remove(at: index)
            bytes -= item.size
            return item
        }
        if let (tag, item) = inFlight.first(where: { $0.value.id == id }) {
            inFlight[tag] = nil
            bytes -= item.size
            return item
        }
        return nil
    }

    /// Removes items that `shouldDrop` selects from the waiting part (for example method responses after a
    /// disconnect, which the hub no longer waits for).
    mutating func removeWaiting(where shouldDrop: (OutboundItem) -> Bool) -> [OutboundItem] {
        let dropped = waiting[head...].filter(shouldDrop)
        guard !dropped.isEmpty else { return [] }
        waiting = waiting[head...].filter { !shouldDrop($0) }
        head = 0
        bytes -= dropped.reduce(0) { $0 + $1.size }
        return dropped
    }

    /// Empties the queue, returning everything it held.
    mutating func removeAll() -> [OutboundItem] {
        let all = inFlight.values.sorted { $0.id < $1.id } + waiting[head...]
        waiting = []
        head = 0
        inFlight = [:]
        bytes = 0
        return all
    }

    private mutating func compact() {
        if head > 64, head * 2 > waiting.count {
            waiting.removeFirst(head)
            head = 0
        }
    }
}
