import NIOCore

/// PUBACKs in the order their PUBLISHes arrived (MQTT-4.6.0-2), though the work behind them finishes out of order.
///
/// Telemetry is acknowledged only once it is durable; a twin request or method response is acknowledged on receipt.
/// Each QoS 1 PUBLISH takes a ticket; ``finish(_:)`` marks it done and returns the packet ids now free to go out.
struct MQTTAcknowledgementQueue {
    /// A place in the queue.
    struct Ticket: Hashable {
        /// Its place, counted from the connection's first ticket: what a ``TelemetryIngestClient`` token carries.
        let number: UInt64
    }

    /// Starts at one slot and grows to 16 at the first ticket, so a connection that never publishes at QoS 1 holds
    /// almost nothing.
    private var slots = CircularBuffer<(packetId: UInt16, done: Bool)>(initialCapacity: 0)
    private var firstNumber: UInt64 = 0

    /// Tickets taken and not yet released.
    var count: Int { slots.count }

    /// Takes the next place for `packetId`.
    mutating func enqueue(_ packetId: UInt16) -> Ticket {
        if slots.isEmpty, slots.capacity < 16 { slots.reserveCapacity(16) }
        slots.append((packetId, false))
        return Ticket(number: firstNumber + UInt64(slots.count - 1))
    }

    /// Marks `ticket` done and calls `ready` with each packet id, in arrival order, that may now be acknowledged.
    mutating func finish(_ ticket: Ticket, _ ready: (UInt16) -> Void) {
        guard ticket.number >= firstNumber else { return }
        let index = Int(ticket.number - firstNumber)
        guard index < slots.count else { return }
        slots[slots.index(slots.startIndex, offsetBy: index)].done = true
        while let first = slots.first, first.done {
            slots.removeFirst()
            firstNumber += 1
            ready(first.packetId)
        }
    }
}
