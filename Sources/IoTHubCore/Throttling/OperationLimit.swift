/// One operation's throttle: a sustained rate, the burst admitted at once, and how much backlog is queued
/// (traffic shaping) before requests are rejected.
///
/// IoT Hub applies its throttles "in minute ranges" and documents that a hub sent twice its limit processes the
/// excess immediately "for the first minute or two", then queues it at the limit rate, then rejects with
/// `429 ThrottlingException` once the queue is full. So the default burst is one minute of the rate, and requests
/// beyond it are delayed while the backlog (the wait it implies) stays within ``shapingWindow``.
///
/// Rates are in cost units per second: requests, or for ``ThrottledOperation/methodInvoke`` 4 KB chunks of payload.
///
/// ```swift
/// let registry = OperationLimit.perMinute(100, shapingWindow: .zero)   // 100 at once, then 1.67/s, no queue
/// let telemetry = OperationLimit.perSecond(100)                      // 6,000 at once, then 100/s, 10 s queue
/// ```
public struct OperationLimit: Sendable, Hashable, CustomStringConvertible {
    /// The sustained rate, in cost units per second.
    public var ratePerSecond: Double
    /// The cost admitted at once from a full bucket (the bucket's capacity).
    public var burst: Double
    /// The longest a request is delayed (traffic shaping) before the throttle rejects instead; `.zero` rejects
    /// everything beyond the burst.
    public var shapingWindow: Duration

    /// The burst when none is given: one minute of the rate ("applied in minute ranges").
    public static let defaultBurstDuration: Double = 60
    /// The shaping window when none is given. IoT Hub documents a queue of limited size but not its length.
    public static let defaultShapingWindow: Duration = .seconds(10)

    /// A limit of `ratePerSecond`, with `burst` (default one minute of the rate, at least 1) and a shaping window.
    public init(ratePerSecond: Double, burst: Double? = nil, shapingWindow: Duration = OperationLimit.defaultShapingWindow) {
        self.ratePerSecond = ratePerSecond
        self.burst = burst ?? max(1, ratePerSecond * Self.defaultBurstDuration)
        self.shapingWindow = shapingWindow
    }

    /// A limit of `count` per second.
    public static func perSecond(_ count: Double, burst: Double? = nil,
                                 shapingWindow: Duration = OperationLimit.defaultShapingWindow) -> OperationLimit {
        OperationLimit(ratePerSecond: count, burst: burst, shapingWindow: shapingWindow)
    }

    /// A limit of `count` per minute (IoT Hub's "100/min/unit" style), kept exact rather than rounded to 1.67/s.
    public static func perMinute(_ count: Double, burst: Double? = nil,
                                 shapingWindow: Duration = OperationLimit.defaultShapingWindow) -> OperationLimit {
        OperationLimit(ratePerSecond: count / 60, burst: burst, shapingWindow: shapingWindow)
    }

    /// Checks the numbers, for limits supplied by an operator.
    /// - Throws: ``ThrottlingConfigurationError/invalidLimit(_:reason:)``.
    func validate(for operation: ThrottledOperation) throws(ThrottlingConfigurationError) {
        guard ratePerSecond.isFinite, ratePerSecond > 0 else {
            throw .invalidLimit(operation, reason: "the rate must be a positive number per second, not \(ratePerSecond)")
        }
        guard burst.isFinite, burst >= 1 else {
            throw .invalidLimit(operation, reason: "the burst must be at least 1, not \(burst)")
        }
        guard shapingWindow >= .zero else {
            throw .invalidLimit(operation, reason: "the shaping window cannot be negative (\(shapingWindow))")
        }
    }

    /// `100/s`, or `1.67/s (100/min)` for per-minute rates, with the burst and shaping window.
    public var description: String {
        let perMinute = ratePerSecond * 60
        let rate = ratePerSecond < 10 && perMinute.rounded() == perMinute
            ? "\(Self.format(ratePerSecond))/s (\(Self.format(perMinute))/min)" : "\(Self.format(ratePerSecond))/s"
        return "\(rate), burst \(Self.format(burst)), shaping \(shapingWindow)"
    }

    private static func format(_ value: Double) -> String {
        if value.rounded() == value, abs(value) < 1e15 { return String(Int(value)) }
        return String((value * 100).rounded() / 100)
    }
}

/// The daily message quota: how many messages the hub may use per UTC day, and the chunk size messages are
/// metered in (0.5 KB on F1, 4 KB on the standard tiers).
///
/// ```swift
/// let quota = DailyMessageQuota(messages: 400_000, chunkBytes: 4096)
/// quota.messages(forBytes: 4097)   // 2
/// ```
public struct DailyMessageQuota: Sendable, Hashable {
    /// The messages allowed per UTC day, for the whole hub.
    public var messages: Int
    /// The meter size: a message of up to this many bytes counts one.
    public var chunkBytes: Int

    public init(messages: Int, chunkBytes: Int) {
        self.messages = messages
        self.chunkBytes = chunkBytes
    }

    /// The messages charged for `bytes` of payload: whole chunks, at least one (an empty body counts one).
    public func messages(forBytes bytes: Int) -> Int {
        guard chunkBytes > 0 else { return 1 }
        return max(1, (max(0, bytes) + chunkBytes - 1) / chunkBytes)
    }

    func validate() throws(ThrottlingConfigurationError) {
        guard messages > 0 else {
            throw .invalidDailyQuota(reason: "the quota must be at least 1 message, not \(messages)")
        }
        guard chunkBytes > 0 else {
            throw .invalidDailyQuota(reason: "the chunk size must be at least 1 byte, not \(chunkBytes)")
        }
    }
}
