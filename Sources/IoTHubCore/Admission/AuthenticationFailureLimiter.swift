import Synchronization

/// Rate-limits failed logins per source address, so a client that keeps presenting bad credentials costs the hub
/// almost nothing: once a source has failed more than ``Configuration/burst`` times faster than
/// ``Configuration/refillPerSecond``, its new connections are closed before any TLS handshake, token check or
/// registry lookup, until its budget refills.
///
/// Successful logins cost no budget, and a blocked source only ever blocks itself (devices behind the same NAT
/// address share its budget). The table of sources is bounded: when it is full, sources whose budget is full again
/// are forgotten first.
///
/// It also decides which refusals are worth a log line: the first ``Configuration/burst`` of a source are logged
/// one by one, then one line when the source becomes blocked, and one summary with the count of refusals not
/// logged when it is let in again.
public final class AuthenticationFailureLimiter: Sendable {
    /// The budget of failures per source.
    public struct Configuration: Sendable, Hashable {
        /// Failures a source may have in a row before it is blocked.
        public var burst: Int = 20
        /// Failures per second a source may keep up indefinitely.
        public var refillPerSecond: Double = 2
        /// Sources tracked at most.
        public var maximumSources: Int = 16_384

        public init(burst: Int = 20, refillPerSecond: Double = 2, maximumSources: Int = 16_384) {
            self.burst = burst
            self.refillPerSecond = refillPerSecond
            self.maximumSources = maximumSources
        }
    }

    /// What the caller should log about a failure it just recorded.
    public enum FailureLog: Sendable, Hashable {
        /// Log this refusal as usual.
        case log
        /// This failure used up the source's budget: log that it is blocked now, and not each refusal.
        case blocked
        /// The source is over its budget: count, do not log.
        case suppressed
    }

    private struct Source {
        var tokens: Double
        var updated: ContinuousClock.Instant
        var blocked: Bool
        var suppressed: Int
    }

    private struct State {
        var sources: [String: Source] = [:]
    }

    public let configuration: Configuration
    private let state = Mutex(State())

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Whether new connections from `source` are to be closed at once. When a blocked source is let in again,
    /// `summary` is the number of refusals that were not logged while it was blocked (log it once).
    public func admits(_ source: String, now: ContinuousClock.Instant = .now) -> (admitted: Bool, summary: Int?) {
        state.withLock { state in
            guard var entry = state.sources[source] else { return (true, nil) }
            refill(&entry, now: now)
            defer { state.sources[source] = entry }
            guard entry.tokens >= 1 else {
                entry.suppressed += 1
                return (false, nil)
            }
            guard entry.blocked else { return (true, nil) }
            entry.blocked = false
            let summary = entry.suppressed
            entry.suppressed = 0
            return (true, summary)
        }
    }

    /// Records a failed login from `source`.
    @discardableResult
    public func recordFailure(_ source: String, now: ContinuousClock.Instant = .now) -> FailureLog {
        state.withLock { state in
            var entry = state.sources[source]
                ?? Source(tokens: Double(configuration.burst), updated: now, blocked: false, suppressed: 0)
            refill(&entry, now: now)
            if state.sources[source] == nil, state.sources.count >= configuration.maximumSources {
                forgetRecovered(&state, now: now)
            }
            entry.tokens = max(0, entry.tokens - 1)
            let log: FailureLog
            if entry.blocked {
                entry.suppressed += 1
                log = .suppressed
            } else if entry.tokens < 1 {
                entry.blocked = true
                log = .blocked
            } else {
                log = .log
            }
            if state.sources.count < configuration.maximumSources || state.sources[source] != nil {
                state.sources[source] = entry
            }
            return log
        }
    }

    /// The number of sources currently tracked.
    public var trackedSources: Int { state.withLock { $0.sources.count } }

    private func refill(_ entry: inout Source, now: ContinuousClock.Instant) {
        let elapsed = now - entry.updated
        guard elapsed > .zero else { return }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        entry.tokens = min(Double(configuration.burst), entry.tokens + seconds * configuration.refillPerSecond)
        entry.updated = now
    }

    /// Drops sources whose budget has refilled (they behave as new ones if they fail again); if none has, the
    /// oldest half, so the table stays bounded under a flood from many addresses.
    private func forgetRecovered(_ state: inout State, now: ContinuousClock.Instant) {
        let burst = Double(configuration.burst)
        for (key, var entry) in state.sources {
            refill(&entry, now: now)
            if entry.tokens >= burst, !entry.blocked { state.sources.removeValue(forKey: key) }
        }
        guard state.sources.count >= configuration.maximumSources else { return }
        let oldest = state.sources.sorted { $0.value.updated < $1.value.updated }.prefix(state.sources.count / 2)
        for (key, _) in oldest { state.sources.removeValue(forKey: key) }
    }
}
