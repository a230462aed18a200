/// One operation's token bucket with traffic shaping: pure state, driven by a nanosecond timeline.
///
/// The bucket holds up to `capacity` tokens and refills at the limit's rate. A request that finds enough tokens
/// proceeds. Otherwise its tokens are borrowed: the level goes negative, and the request waits until the refill
/// has paid the debt. That wait is the backlog, and it grows with every delayed request, so callers delayed
/// together are spaced out at the limit rate instead of all going at once. When the wait would exceed the
/// shaping window the request is rejected and nothing is borrowed.
///
/// A request costing more than the capacity needs only a full bucket, and leaves the rest as debt.
struct TokenBucket: Sendable {
    private let ratePerNanosecond: Double
    private let capacity: Double
    private let windowNanoseconds: Double
    /// Tokens available; negative while requests are waiting (the backlog).
    private(set) var tokens: Double
    private var updated: Int64

    /// Below this many tokens of shortfall a request proceeds: absorbs floating-point rounding of the refill.
    private static let tolerance = 1e-6
    private static let minimumRetry: Double = 1_000_000   // 1 ms
    private static let longestWait: Double = 86_400e9     // a day: keeps Durations far from overflow

    /// A full bucket for `limit`, at `now` nanoseconds.
    init(limit: OperationLimit, at now: Int64) {
        ratePerNanosecond = limit.ratePerSecond / 1e9
        capacity = limit.burst
        let window = limit.shapingWindow.components
        windowNanoseconds = Double(window.seconds) * 1e9 + Double(window.attoseconds) * 1e-9
        tokens = capacity
        updated = now
    }

    /// Admits a request of `cost` tokens at `now` nanoseconds (earlier times than the last call count as the last).
    mutating func admit(cost: Int, at now: Int64) -> ThrottleDecision {
        if now > updated {
            tokens = min(capacity, tokens + Double(now - updated) * ratePerNanosecond)
            updated = now
        }
        guard cost > 0 else { return .allow }
        let charge = Double(cost)
        let shortfall = min(charge, capacity) - tokens
        if shortfall <= Self.tolerance {
            tokens -= charge
            return .allow
        }
        let wait = shortfall / ratePerNanosecond
        if wait <= windowNanoseconds + 1 {   // a nanosecond of slack for rounding
            tokens -= charge
            return .delay(Self.duration(wait))
        }
        return .reject(retryAfter: Self.duration(max(wait - windowNanoseconds, Self.minimumRetry)), reason: .throttled)
    }

    private static func duration(_ nanoseconds: Double) -> Duration {
        .nanoseconds(Int64(min(nanoseconds, longestWait).rounded()))
    }
}
