import Foundation
import Synchronization

/// The hub's throttles and daily message quota, shared by every protocol head: one token bucket per operation and
/// one quota counter, each behind its own lock held for a few arithmetic operations.
///
/// Beyond a throttle's burst a request is delayed (traffic shaping) while the backlog stays within the shaping
/// window, then rejected (`429001 ThrottlingException`). Messages are metered separately against the daily quota;
/// once it is used up they are rejected (`403002 IotHubQuotaExceeded`) until 00:00 UTC. An operation without a
/// throttle, and every operation of the unlimited tier, is admitted without taking a lock.
///
/// ```swift
/// let throttle = HubThrottle(configuration: try ThrottlingConfiguration(tier: "S1"), metrics: metrics)
/// if let error = throttle.checkDailyQuota().error(for: .deviceToCloud) { throw error }   // 403002
/// let decision = throttle.admit(.deviceToCloud)
/// if let error = decision.error(for: .deviceToCloud) { throw error }                    // 429001
/// if case .delay(let wait) = decision { try await Task.sleep(for: wait) }             // traffic shaping
/// _ = throttle.meterMessages(bytes: body.count)   // IoT Hub charges accepted messages only
/// ```
///
/// Tests pass their own times: `admit(_:cost:at:)` takes any `ContinuousClock.Instant` (only differences from the
/// instant given at `init` matter) and `meterMessages(bytes:at:)` a wall-clock `Date`.
public final class HubThrottle: Sendable {
    /// The configuration the throttle enforces.
    public let configuration: ThrottlingConfiguration
    /// Whether nothing is throttled and there is no quota (every call returns `.allow`).
    public let isUnlimited: Bool

    private let buckets: [Bucket?]
    private let quota: Quota?
    private let origin: ContinuousClock.Instant

    /// A throttle for `configuration`, with full buckets at `now` and the quota counting from the UTC day of
    /// `today`, reporting into `metrics` when given (see ``HubMetrics`` and its `iothub_throttle_*` and
    /// `iothub_daily_quota_*` metrics).
    public init(configuration: ThrottlingConfiguration, metrics: HubMetrics? = nil,
                now: ContinuousClock.Instant = .now, today: Date = Date()) {
        self.configuration = configuration
        let limits = configuration.limits
        isUnlimited = limits.isUnlimited
        origin = now
        let instruments = metrics?.throttlingInstruments(for: configuration)
        buckets = ThrottledOperation.allCases.map { operation in
            limits[operation].map { Bucket(limit: $0, instruments: instruments?.operations[operation.ordinal]) }
        }
        quota = limits.dailyQuota.map {
            Quota(counter: DailyQuotaCounter(quota: $0, day: Self.utcDay(today)), instruments: instruments?.quota)
        }
    }

    /// The effective limits.
    public var limits: ThrottleLimits { configuration.limits }

    // MARK: Operation throttles

    /// Admits one request of `operation` costing `cost` (1 per request; the 4 KB chunks of a method payload, see
    /// ``ThrottledOperation/cost(payloadBytes:)``; the identity count of a bulk registry request), now.
    public func admit(_ operation: ThrottledOperation, cost: Int = 1) -> ThrottleDecision {
        guard let bucket = buckets[operation.ordinal] else { return .allow }
        return bucket.admit(cost: cost, at: nanoseconds(.now))
    }

    /// Admits one request of `operation` costing `cost` at `now`.
    ///
    /// A `.delay` reserves the capacity: proceed after the wait without asking again.
    public func admit(_ operation: ThrottledOperation, cost: Int = 1, at now: ContinuousClock.Instant) -> ThrottleDecision {
        guard let bucket = buckets[operation.ordinal] else { return .allow }
        return bucket.admit(cost: cost, at: nanoseconds(now))
    }

    // MARK: Daily message quota

    /// Charges `bytes` of payload against the daily quota now (see ``meterMessages(bytes:at:)``).
    public func meterMessages(bytes: Int) -> ThrottleDecision {
        guard let quota else { return .allow }
        return quota.meter(bytes: bytes, at: Date())
    }

    /// Charges `bytes` of payload against the daily quota at `date`, in the tier's chunks (4 KB; 0.5 KB on F1; an
    /// empty payload counts one message).
    ///
    /// Returns `.allow` when charged, or `.reject(retryAfter:reason: .dailyQuotaExceeded)` without charging once
    /// the day's quota is used up; the count starts again at 00:00 UTC. Call it for the traffic IoT Hub charges
    /// (``ThrottledOperation/isChargedAgainstDailyQuota``): each device-to-cloud and cloud-to-device message; a
    /// method's request and, separately, its response (or one message when the device is offline); the twin
    /// document read; the patch of a twin update, and each desired-property notification sent to a device; a
    /// query's result; file upload initiation and completion notices. Never `.delay`.
    public func meterMessages(bytes: Int, at date: Date) -> ThrottleDecision {
        guard let quota else { return .allow }
        return quota.meter(bytes: bytes, at: date)
    }

    /// `.allow` while the day's quota has room at `date`, else the rejection `meterMessages` would return; charges
    /// nothing. For refusing work up front, such as a connection once the quota is used up.
    public func checkDailyQuota(at date: Date = Date()) -> ThrottleDecision {
        guard let quota else { return .allow }
        return quota.check(at: date)
    }

    /// The day's quota use at `date`, or `nil` when there is no quota.
    public func dailyQuotaUsage(at date: Date = Date()) -> DailyQuotaUsage? {
        quota?.usage(at: date)
    }

    // MARK: Time

    private func nanoseconds(_ now: ContinuousClock.Instant) -> Int64 {
        let elapsed = (now - origin).components
        return elapsed.seconds &* 1_000_000_000 &+ elapsed.attoseconds / 1_000_000_000
    }

    static let secondsPerDay: Double = 86_400

    /// Days since 1970-01-01 UTC.
    static func utcDay(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 / secondsPerDay).rounded(.down))
    }

    /// The next 00:00 UTC after `day` began.
    static func midnight(after day: Int64) -> Date {
        Date(timeIntervalSince1970: Double(day + 1) * secondsPerDay)
    }
}

/// The day's use of the daily message quota.
public struct DailyQuotaUsage: Sendable, Hashable {
    /// Messages charged since the last 00:00 UTC.
    public var used: Int
    /// The messages allowed per day.
    public var limit: Int
    /// When the count starts again: the next 00:00 UTC.
    public var resetsAt: Date

    /// The messages left today.
    public var remaining: Int { max(0, limit - used) }
}

/// One operation's bucket and its metrics.
private final class Bucket: Sendable {
    private let state: Mutex<TokenBucket>
    private let instruments: ThrottlingInstruments.Operation?

    init(limit: OperationLimit, instruments: ThrottlingInstruments.Operation?) {
        state = Mutex(TokenBucket(limit: limit, at: 0))
        self.instruments = instruments
    }

    func admit(cost: Int, at now: Int64) -> ThrottleDecision {
        let decision = state.withLock { $0.admit(cost: cost, at: now) }
        switch decision {
        case .allow: break
        case .delay: instruments?.delayed.increment()
        case .reject: instruments?.rejected.increment()
        }
        return decision
    }
}

/// The quota counter and its metrics.
private final class Quota: Sendable {
    private let state: Mutex<DailyQuotaCounter>
    private let instruments: ThrottlingInstruments.Quota?

    init(counter: DailyQuotaCounter, instruments: ThrottlingInstruments.Quota?) {
        state = Mutex(counter)
        self.instruments = instruments
    }

    func meter(bytes: Int, at date: Date) -> ThrottleDecision {
        let today = HubThrottle.utcDay(date)
        let charged = state.withLock { counter in
            let charged = counter.meter(bytes: bytes, on: today)
            instruments?.used.set(counter.used)
            return charged
        }
        if charged { return .allow }
        instruments?.rejected.increment()
        return rejection(at: date, day: today)
    }

    func check(at date: Date) -> ThrottleDecision {
        let today = HubThrottle.utcDay(date)
        let exhausted = state.withLock { counter in
            counter.roll(to: today)
            return counter.used >= counter.quota.messages
        }
        return exhausted ? rejection(at: date, day: today) : .allow
    }

    func usage(at date: Date) -> DailyQuotaUsage {
        let today = HubThrottle.utcDay(date)
        return state.withLock { counter in
            counter.roll(to: today)
            instruments?.used.set(counter.used)
            return DailyQuotaUsage(used: counter.used, limit: counter.quota.messages,
                                   resetsAt: HubThrottle.midnight(after: counter.day))
        }
    }

    private func rejection(at date: Date, day: Int64) -> ThrottleDecision {
        let seconds = max(0.001, HubThrottle.midnight(after: day).timeIntervalSince(date))
        return .reject(retryAfter: .milliseconds(Int64((seconds * 1000).rounded(.up))), reason: .dailyQuotaExceeded)
    }
}
