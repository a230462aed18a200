/// How the hub throttles: an IoT Hub tier and unit count (`--tier S1 --units 2`), plus optional per-operation
/// overrides for tests and operators.
///
/// ```swift
/// var configuration = try ThrottlingConfiguration(tier: "S1", units: 2)
/// try configuration.override(.connect, with: .perSecond(5, burst: 5))   // a tight connect limit for a test
/// try configuration.override(.query, with: nil)                         // queries unthrottled
/// let throttle = HubThrottle(configuration: configuration)
/// ```
public struct ThrottlingConfiguration: Sendable, Hashable {
    /// The tier.
    public let tier: HubTier
    /// The number of units (ignored by the unlimited tier).
    public let units: Int
    /// The effective limits: the tier's defaults with the overrides applied.
    public private(set) var limits: ThrottleLimits

    /// No throttles, no quota: the default for local development.
    public static let unlimited = ThrottlingConfiguration(validated: .unlimited, units: 1)

    /// `units` units of `tier`.
    /// - Throws: ``ThrottlingConfigurationError/unitsOutOfRange(tier:units:)`` unless the count is one IoT Hub
    ///   sells: exactly 1 for F1, 1 to 200 for S1 and S2, 1 to 10 for S3 (any positive count for unlimited).
    public init(tier: HubTier, units: Int = 1) throws(ThrottlingConfigurationError) {
        guard tier.allowedUnits.contains(units) else { throw .unitsOutOfRange(tier: tier, units: units) }
        self.init(validated: tier, units: units)
    }

    /// `units` units of the tier named `tier` (`F1`, `S1`, `S2`, `S3`, `unlimited`, any case).
    /// - Throws: ``ThrottlingConfigurationError`` for an unknown tier or a unit count the tier does not allow.
    public init(tier name: String, units: Int = 1) throws(ThrottlingConfigurationError) {
        try self.init(tier: HubTier(parsing: name), units: units)
    }

    private init(validated tier: HubTier, units: Int) {
        self.tier = tier
        self.units = units
        limits = ThrottleLimits.defaults(for: tier, units: units)
    }

    /// Replaces the throttle of `operation`; `nil` leaves the operation unthrottled.
    /// - Throws: ``ThrottlingConfigurationError/invalidLimit(_:reason:)`` for a rate that is not positive, a burst
    ///   below one, or a negative shaping window.
    public mutating func override(_ operation: ThrottledOperation, with limit: OperationLimit?)
        throws(ThrottlingConfigurationError) {
        try limit?.validate(for: operation)
        limits[operation] = limit
    }

    /// Replaces the daily message quota; `nil` removes it.
    /// - Throws: ``ThrottlingConfigurationError/invalidDailyQuota(reason:)`` for a quota or chunk size below one.
    public mutating func overrideDailyQuota(_ quota: DailyMessageQuota?) throws(ThrottlingConfigurationError) {
        try quota?.validate()
        limits.dailyQuota = quota
    }
}
