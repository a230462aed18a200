import NIOCore

/// What a ``ConnectionTimerWheel`` calls when one of its timers is due.
protocol ConnectionTimerTarget: AnyObject {
    /// `timer` is due. Called on the wheel's event loop; the timer is no longer scheduled.
    func connectionTimerFired(_ timer: ConnectionTimerWheel.Kind)
}

/// The deadlines of every connection on one event loop (connect timeouts, keep-alive checks, token expiries),
/// kept in a hashed wheel that one scheduled task per loop turns.
///
/// A NIO scheduled task costs a task object, a promise and its future, a closure and a heap slot, about 320 bytes,
/// and an idle MQTT connection holds two. Here a timer is one 32-byte entry in a bucket, and the loop wakes once
/// per ``resolution`` while any timer is scheduled, whatever their number.
///
/// A timer fires at the first turn of the wheel at or after its deadline: never early, at most one
/// ``resolution`` late. Confined to its event loop: every call is made on it.
final class ConnectionTimerWheel {
    /// What a timer is for; handed back to its target when it fires.
    enum Kind: UInt8, Sendable {
        case connect
        case keepAlive
        case tokenExpiry
    }

    /// A scheduled timer, to cancel it.
    struct Timer: Sendable, Equatable {
        fileprivate let id: UInt32
        fileprivate let tick: Int64
    }

    private struct Entry {
        let id: UInt32
        let kind: Kind
        let tick: Int64
        let target: any ConnectionTimerTarget
    }

    let eventLoop: any EventLoop
    /// How far apart the wheel's turns are.
    let resolution: TimeAmount
    private var buckets: [[Entry]]
    private let mask: Int64
    private var nextId: UInt32 = 0
    /// The last tick whose bucket was processed.
    private var processedTick: Int64
    private var turn: Scheduled<Void>?
    /// Timers scheduled and not yet fired or cancelled.
    private(set) var count = 0

    /// - Parameter slots: the number of buckets, a power of two; deadlines further away than `slots × resolution`
    ///   wait in their bucket for later turns.
    init(eventLoop: any EventLoop, resolution: TimeAmount = .seconds(1), slots: Int = 512) {
        precondition(slots > 0 && slots & (slots - 1) == 0, "slots must be a power of two")
        precondition(resolution.nanoseconds > 0)
        self.eventLoop = eventLoop
        self.resolution = resolution
        buckets = Array(repeating: [], count: slots)
        mask = Int64(slots - 1)
        processedTick = Int64(eventLoop.now.uptimeNanoseconds / UInt64(resolution.nanoseconds))
    }

    /// Schedules `kind` for `target` at `deadline`.
    func schedule(_ kind: Kind, at deadline: NIODeadline, for target: any ConnectionTimerTarget) -> Timer {
        eventLoop.assertInEventLoop()
        // The first turn at or after the deadline, and never one already processed.
        let step = UInt64(resolution.nanoseconds)
        let tick = max(Int64((deadline.uptimeNanoseconds + step - 1) / step), processedTick + 1)
        nextId &+= 1
        let entry = Entry(id: nextId, kind: kind, tick: tick, target: target)
        buckets[Int(tick & mask)].append(entry)
        count += 1
        if turn == nil { scheduleTurn() }
        return Timer(id: entry.id, tick: tick)
    }

    /// Schedules `kind` for `target` after `delay`.
    func schedule(_ kind: Kind, in delay: TimeAmount, for target: any ConnectionTimerTarget) -> Timer {
        schedule(kind, at: eventLoop.now + delay, for: target)
    }

    /// Cancels `timer` if it has not fired yet.
    func cancel(_ timer: Timer) {
        eventLoop.assertInEventLoop()
        let index = Int(timer.tick & mask)
        guard let position = buckets[index].firstIndex(where: { $0.id == timer.id }) else { return }
        buckets[index].remove(at: position)
        count -= 1
        if count == 0 {
            turn?.cancel()
            turn = nil
        }
    }

    private func scheduleTurn() {
        let step = resolution.nanoseconds
        let deadline = NIODeadline.uptimeNanoseconds(UInt64((processedTick + 1) * step))
        turn = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            turn = nil
            advance()
        }
    }

    /// Processes every bucket up to now, then schedules the next turn if timers remain.
    private func advance() {
        let now = Int64(eventLoop.now.uptimeNanoseconds / UInt64(resolution.nanoseconds))
        // After a long stall every bucket is visited once: a due entry is due whichever turn finds it.
        let last = min(now, processedTick + mask + 1)
        var due: [Entry] = []
        var tick = processedTick + 1
        while tick <= last {
            let index = Int(tick & mask)
            if !buckets[index].isEmpty {
                buckets[index].removeAll { entry in
                    guard entry.tick <= now else { return false }
                    due.append(entry)
                    return true
                }
            }
            tick += 1
        }
        processedTick = now
        count -= due.count
        // Fired after the wheel is consistent: a target may schedule or cancel from its callback.
        for entry in due { entry.target.connectionTimerFired(entry.kind) }
        if count > 0, turn == nil { scheduleTurn() }
    }
}
