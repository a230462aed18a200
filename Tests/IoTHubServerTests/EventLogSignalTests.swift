import IoTHubProtocol
import Synchronization
import Testing
@testable import IoTHubCore

/// The core's wake-ups that replace polling: the event log's signal (monitor streams) and presence changes
/// (direct methods waiting for a device). Waits here have hour-long timeouts, so only the wake-up can end them;
/// a guard task fails the test instead of hanging if it never comes.
@Suite("core wake-ups: event log signal and presence changes")
struct EventLogSignalTests {
    /// Runs `body`, failing if it has not finished within a minute (it should finish at once).
    static func promptly(_ what: String, _ body: @escaping @Sendable () async -> Void) async {
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await body(); return true }
            group.addTask { try? await Task.sleep(for: .seconds(60)); return false }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        #expect(finished, "\(what) was not woken")
    }

    @Test("a reader waiting after its cursor wakes on the next append, and at once when it is already behind")
    func signal() async {
        let signal = EventLogSignal()
        let waiting = Task { await signal.wait(after: 0, timeout: .seconds(3600)) }
        while true {
            // Appends until the waiter is woken: the first append may land before it registered.
            signal.appended(signal.lastAppended + 1)
            if await Self.done(waiting) { break }
        }
        #expect(signal.lastAppended >= 1)
        await Self.promptly("a reader behind the log") { await signal.wait(after: 0, timeout: .seconds(3600)) }
    }

    @Test("cancelling a waiting reader ends its wait")
    func cancellation() async {
        let signal = EventLogSignal()
        let waiting = Task { await signal.wait(after: 10, timeout: .seconds(3600)) }
        waiting.cancel()
        await Self.promptly("a cancelled reader") { await waiting.value }
    }

    @Test("a method caller waiting for a device wakes when it connects, with no polling")
    func presence() async {
        let presence = PresenceDirectory()
        let identity = DeviceIdentity(deviceId: "later")
        let found = Mutex(false)
        let waiting = Task {
            let session = await presence.waitForSession(identity, until: .now + .seconds(3600)) { $0.acceptsMethods }
            found.withLock { $0 = session != nil }
        }
        presence.register(RecordingSession(identity, methods: false))
        // Not subscribed to methods: still waiting. A session that subscribes wakes it.
        presence.register(RecordingSession(identity, methods: true))
        await Self.promptly("the waiting caller") { await waiting.value }
        #expect(found.withLock { $0 })
    }

    @Test("without the device, the wait ends at its deadline with no session")
    func deadline() async {
        let presence = PresenceDirectory()
        let session = await presence.waitForSession(DeviceIdentity(deviceId: "never"), until: .now + .milliseconds(50)) { _ in true }
        #expect(session == nil)
    }

    static func done(_ task: Task<Void, Never>) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await task.value; return true }
            group.addTask { try? await Task.sleep(for: .milliseconds(20)); return false }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }
}
