import Synchronization
@testable import IoTHubDevice

/// A ``DeviceClientClock`` whose time moves only when the test says so: ``advance(by:)`` fires the timers that
/// fall due, in order, on the test's thread; ``runPending()`` runs work handed over with `execute`.
final class ManualClock: DeviceClientClock {
    private struct Entry {
        var deadline: Duration
        var sequence: Int
        var timer: DeviceLoopTimer
        var work: @Sendable () -> Void
    }

    private struct State {
        var now: Duration = .zero
        var sequence = 0
        var timers: [Entry] = []
        var pending: [@Sendable () -> Void] = []
        var workWaiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())
    /// Wall-clock seconds at the start.
    let epoch: UInt64

    init(epoch: UInt64 = 1_700_000_000) {
        self.epoch = epoch
    }

    /// Time since the start.
    var elapsed: Duration { state.withLock { $0.now } }

    func unixTime() -> UInt64 {
        epoch + UInt64(elapsed.components.seconds)
    }

    func schedule(after delay: Duration, _ work: @escaping @Sendable () -> Void) -> DeviceLoopTimer {
        let timer = DeviceLoopTimer()
        state.withLock { state in
            state.sequence += 1
            state.timers.append(Entry(deadline: state.now + delay, sequence: state.sequence, timer: timer, work: work))
        }
        return timer
    }

    func execute(_ work: @escaping @Sendable () -> Void) {
        let waiter = state.withLock { state in
            state.pending.append(work)
            defer { state.workWaiter = nil }
            return state.workWaiter
        }
        waiter?.resume()
    }

    /// The delays (from now) of the timers still armed, soonest first.
    var armedDelays: [Duration] {
        state.withLock { state in
            state.timers.filter { !$0.timer.isCancelled }.map { $0.deadline - state.now }.sorted()
        }
    }

    /// Moves time on by `duration`, firing every timer that falls due (and the work they hand over) in order.
    func advance(by duration: Duration) {
        let target = elapsed + duration
        while true {
            let due: Entry? = state.withLock { state in
                let timers = state.timers
                let live = timers.indices.filter { !timers[$0].timer.isCancelled }
                let key = { (index: Int) in (timers[index].deadline, timers[index].sequence) }
                guard let index = live.min(by: { key($0) < key($1) }), timers[index].deadline <= target else {
                    state.timers.removeAll { $0.timer.isCancelled }
                    return nil
                }
                let entry = state.timers.remove(at: index)
                state.now = max(state.now, entry.deadline)
                return entry
            }
            guard let due else { break }
            due.work()
            runPending()
        }
        state.withLock { $0.now = target }
        runPending()
    }

    /// Runs the work handed over with `execute` so far (and any it hands over in turn).
    func runPending() {
        while true {
            let batch = state.withLock { state in
                defer { state.pending.removeAll() }
                return state.pending
            }
            guard !batch.isEmpty else { return }
            for work in batch { work() }
        }
    }

    /// Returns once some work has been handed over with `execute` (a task coming back to the core).
    func workHandedOver() async {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state in
                if !state.pending.isEmpty { return true }
                state.workWaiter = continuation
                return false
            }
            if ready { continuation.resume() }
        }
    }
}
