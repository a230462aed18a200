import IoTHubProtocol
import Synchronization

/// A session the hub's services can watch: it reports when what it subscribed to changes (a device subscribing to
/// methods, for instance), so callers waiting for it need not poll.
public protocol ObservableDeviceSession: DeviceSession {
    /// Registers the one callback run after each change of the session's subscriptions.
    func onSubscriptionsChanged(_ callback: @escaping @Sendable () -> Void)
}

/// Per-identity change counters of ``PresenceDirectory``, and the tasks waiting for the next change.
final class PresenceChanges: Sendable {
    private struct State {
        var generations: [DeviceIdentity: UInt64] = [:]
        var waiters: [DeviceIdentity: [Int: CheckedContinuation<Void, Never>]] = [:]
        var nextId = 0
    }

    private let state = Mutex(State())

    func generation(of identity: DeviceIdentity) -> UInt64 {
        state.withLock { $0.generations[identity] ?? 0 }
    }

    /// Counts a change of `identity` and wakes whoever waits for it.
    func changed(_ identity: DeviceIdentity) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.generations[identity, default: 0] &+= 1
            return Array((state.waiters.removeValue(forKey: identity) ?? [:]).values)
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns after the next change of `identity` past `generation`, at `deadline`, or on cancellation.
    func wait(for identity: DeviceIdentity, after generation: UInt64, until deadline: ContinuousClock.Instant) async {
        let id = state.withLock { state -> Int in
            defer { state.nextId += 1 }
            return state.nextId
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let ready = self.state.withLock { state -> Bool in
                            if (state.generations[identity] ?? 0) != generation || Task.isCancelled { return true }
                            state.waiters[identity, default: [:]][id] = continuation
                            return false
                        }
                        if ready { continuation.resume() }
                    }
                } onCancel: {
                    self.release(identity, id)
                }
            }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                self.release(identity, id)
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func release(_ identity: DeviceIdentity, _ id: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            let waiter = state.waiters[identity]?.removeValue(forKey: id)
            if state.waiters[identity]?.isEmpty == true { state.waiters[identity] = nil }
            return waiter
        }
        waiter?.resume()
    }
}
