import Synchronization

/// What the parts of one run share across threads: the phase every engine shard follows (send, drain, stop), which
/// devices are online (so the service side calls devices that can answer), and each shard's latest figures for the
/// live display. Shards write it about once a second and on connect and disconnect; nothing here is per message.
public final class RunControl: Sendable {
    public enum Phase: Int, Sendable, Comparable {
        /// Devices connect and send.
        case running
        /// No new telemetry; what is in flight is still acknowledged.
        case draining
        /// Devices disconnect and the shards finish.
        case stopping

        public static func < (lhs: Phase, rhs: Phase) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// One shard's (or the service side's) running totals.
    public struct Snapshot: Sendable, Codable {
        public var connected = 0
        /// Telemetry handed to sessions and not yet acknowledged.
        public var pending = 0
        public var counters: [String: Int] = [:]
        public var failures: [FleetErrorClass: Int] = [:]
        /// Latencies of the last whole second, per operation.
        public var lastSecond: [FleetOperation: CompactLatency] = [:]

        public init() {}
    }

    private struct State {
        var online: [Bool]
        var onlineCount = 0
        var snapshots: [Int: Snapshot] = [:]
        var shardsUp = Set<Int>()
    }

    private let phaseValue = Atomic<Int>(Phase.running.rawValue)
    private let state: Mutex<State>
    /// When the run started; shards count seconds from here so their timelines line up.
    public let started: ContinuousClock.Instant

    public init(devices: Int, started: ContinuousClock.Instant = .now) {
        state = Mutex(State(online: Array(repeating: false, count: devices)))
        self.started = started
    }

    public var phase: Phase { Phase(rawValue: phaseValue.load(ordering: .acquiring)) ?? .stopping }

    /// Moves to `phase` (never back).
    public func advance(to phase: Phase) {
        var current = phaseValue.load(ordering: .relaxed)
        while current < phase.rawValue {
            let (exchanged, original) = phaseValue.compareExchange(expected: current, desired: phase.rawValue,
                                                                   ordering: .acquiringAndReleasing)
            if exchanged { return }
            current = original
        }
    }

    // MARK: Who is online

    func setOnline(_ index: Int, _ online: Bool) {
        state.withLock { state in
            guard state.online.indices.contains(index), state.online[index] != online else { return }
            state.online[index] = online
            state.onlineCount += online ? 1 : -1
        }
    }

    public var onlineCount: Int { state.withLock { $0.onlineCount } }

    /// An online device among `candidates` (fleet indices), or `nil` after a few random tries found none.
    func randomOnline(in candidates: [Range<Int>], using random: inout some RandomNumberGenerator) -> Int? {
        let total = candidates.reduce(0) { $0 + $1.count }
        guard total > 0 else { return nil }
        return state.withLock { state in
            for _ in 0..<16 {
                var pick = Int.random(in: 0..<total, using: &random)
                for range in candidates {
                    if pick < range.count {
                        let index = range.lowerBound + pick
                        if state.online.indices.contains(index), state.online[index] { return index }
                        break
                    }
                    pick -= range.count
                }
            }
            return nil
        }
    }

    // MARK: Progress

    public func publish(_ snapshot: Snapshot, from source: Int) {
        state.withLock { $0.snapshots[source] = snapshot }
    }

    /// Every device of shard `source` has tried its first connect (and connected or given up).
    func shardUp(_ source: Int) {
        _ = state.withLock { $0.shardsUp.insert(source) }
    }

    public func shardsUp() -> Int { state.withLock { $0.shardsUp.count } }

    /// The sum of every source's latest snapshot.
    public func totals() -> Snapshot {
        state.withLock { state in
            var total = Snapshot()
            for snapshot in state.snapshots.values {
                total.connected += snapshot.connected
                total.pending += snapshot.pending
                total.counters.merge(snapshot.counters, uniquingKeysWith: +)
                total.failures.merge(snapshot.failures, uniquingKeysWith: +)
                for (operation, window) in snapshot.lastSecond { total.lastSecond[operation, default: CompactLatency()].merge(window) }
            }
            return total
        }
    }
}
