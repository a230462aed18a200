import Synchronization

/// Wakes readers of the event log when telemetry is appended, so a monitor stream or a consumer waits for new
/// events instead of polling the store.
///
/// The signal knows only appends made by this process. Readers therefore also wake after their own timeout and
/// look at the store: with a store shared by several hub nodes, events appended elsewhere arrive within it.
///
/// ```swift
/// let signal = EventLogSignal()
/// await signal.wait(after: cursor, timeout: .seconds(1))   // returns once a sequence number > cursor is appended
/// ```
public final class EventLogSignal: Sendable {
    private struct Waiter {
        var after: Int64
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var last: Int64 = 0
        var nextId = 0
        var waiters: [Int: Waiter] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// The highest sequence number this process appended.
    public var lastAppended: Int64 { state.withLock { $0.last } }

    /// Records an append and wakes every reader waiting for a sequence number below it.
    public func appended(_ sequenceNumber: Int64) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.last = max(state.last, sequenceNumber)
            let ready = state.waiters.filter { $0.value.after < sequenceNumber }
            for id in ready.keys { state.waiters[id] = nil }
            return ready.values.map(\.continuation)
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns when an event after `cursor` is appended here, after `timeout`, or when the task is cancelled,
    /// whichever comes first. The caller then reads the store.
    public func wait(after cursor: Int64, timeout: Duration) async {
        let id = state.withLock { state -> Int in
            defer { state.nextId += 1 }
            return state.nextId
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let ready = self.state.withLock { state -> Bool in
                            if state.last > cursor || Task.isCancelled { return true }
                            state.waiters[id] = Waiter(after: cursor, continuation: continuation)
                            return false
                        }
                        if ready { continuation.resume() }
                    }
                } onCancel: {
                    self.release(id)
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.release(id)
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func release(_ id: Int) {
        let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
        waiter?.continuation.resume()
    }
}
