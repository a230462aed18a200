/// Every operation's throttle and the daily message quota of a hub: IoT Hub's published numbers for a tier and
/// unit count, possibly changed by overrides.
///
/// The numbers come from "IoT Hub quotas and throttling" (operation throttles; the free tier shares the S1
/// column), "Choose the right IoT Hub tier and size" (messages per day per unit) and the IoT Hub pricing page
/// (8,000 messages a day and the 0.5 KB meter of the free tier). Limits are per hub; "per unit" ones are multiplied
/// by the unit count, and "higher of" ones have a floor that does not depend on it.
///
/// ```swift
/// let limits = ThrottleLimits.defaults(for: .standard1, units: 9)
/// limits[.deviceToCloud]?.ratePerSecond   // 108 (9 × 12, above the floor of 100)
/// limits.dailyQuota?.messages              // 3,600,000
/// ```
public struct ThrottleLimits: Sendable, Hashable {
    /// The tier the defaults came from.
    public let tier: HubTier
    /// The unit count the defaults came from.
    public let units: Int
    /// The quota of messages per UTC day, or `nil` for none.
    public var dailyQuota: DailyMessageQuota?
    private var table: [OperationLimit?]

    /// The throttle of `operation`, or `nil` when it is not throttled.
    public subscript(operation: ThrottledOperation) -> OperationLimit? {
        get { table[operation.ordinal] }
        set { table[operation.ordinal] = newValue }
    }

    /// Whether nothing is throttled and there is no quota.
    public var isUnlimited: Bool { dailyQuota == nil && table.allSatisfy { $0 == nil } }

    private init(tier: HubTier, units: Int) {
        self.tier = tier
        self.units = units
        table = Array(repeating: nil, count: ThrottledOperation.allCases.count)
    }

    /// IoT Hub's limits for `units` units of `tier` (the unit count is not checked here; see
    /// ``ThrottlingConfiguration``).
    public static func defaults(for tier: HubTier, units: Int) -> ThrottleLimits {
        var limits = ThrottleLimits(tier: tier, units: units)
        let u = Double(max(1, units))
        switch tier {
        case .unlimited:
            return limits
        case .free, .standard1:
            limits[.connect] = .perSecond(max(100, 12 * u))
            limits[.deviceToCloud] = .perSecond(max(100, 12 * u))
            limits[.cloudToDeviceSend] = .perMinute(100 * u)
            limits[.cloudToDeviceReceive] = .perMinute(1_000 * u)
            limits[.methodInvoke] = .perSecond(40 * u)          // 160 KB/s/unit in 4 KB chunks
            limits[.twinRead] = .perSecond(100)
            limits[.twinUpdate] = .perSecond(50)
            limits[.jobDevice] = .perSecond(10)
            limits.setPerMinutePerUnit(registry: 100, fileUpload: 100, query: 20, job: 100, units: u)
        case .standard2:
            limits[.connect] = .perSecond(120 * u)
            limits[.deviceToCloud] = .perSecond(120 * u)
            limits[.cloudToDeviceSend] = .perMinute(100 * u)
            limits[.cloudToDeviceReceive] = .perMinute(1_000 * u)
            limits[.methodInvoke] = .perSecond(120 * u)         // 480 KB/s/unit in 4 KB chunks
            limits[.twinRead] = .perSecond(max(100, 10 * u))
            limits[.twinUpdate] = .perSecond(max(50, 5 * u))
            limits[.jobDevice] = .perSecond(max(10, 1 * u))
            limits.setPerMinutePerUnit(registry: 100, fileUpload: 100, query: 20, job: 100, units: u)
        case .standard3:
            limits[.connect] = .perSecond(6_000 * u)
            limits[.deviceToCloud] = .perSecond(6_000 * u)
            limits[.cloudToDeviceSend] = .perMinute(5_000 * u)
            limits[.cloudToDeviceReceive] = .perMinute(50_000 * u)
            limits[.methodInvoke] = .perSecond(6_000 * u)       // 24 MB/s/unit (24,000 KB) in 4 KB chunks
            limits[.twinRead] = .perSecond(500 * u)
            limits[.twinUpdate] = .perSecond(250 * u)
            limits[.jobDevice] = .perSecond(50 * u)
            limits.setPerMinutePerUnit(registry: 5_000, fileUpload: 5_000, query: 1_000, job: 5_000, units: u)
        }
        limits[.configuration] = .perMinute(20 * u)
        limits.dailyQuota = switch tier {
        case .unlimited: nil
        case .free: DailyMessageQuota(messages: 8_000, chunkBytes: 512)
        case .standard1: DailyMessageQuota(messages: 400_000 * Int(u), chunkBytes: 4_096)
        case .standard2: DailyMessageQuota(messages: 6_000_000 * Int(u), chunkBytes: 4_096)
        case .standard3: DailyMessageQuota(messages: 300_000_000 * Int(u), chunkBytes: 4_096)
        }
        return limits
    }

    /// The per-minute-per-unit throttles. Registry operations are not queued: IoT Hub's bulk-registry example
    /// rejects the request that exceeds the minute's budget.
    private mutating func setPerMinutePerUnit(registry: Double, fileUpload: Double, query: Double, job: Double,
                                              units u: Double) {
        self[.registry] = .perMinute(registry * u, shapingWindow: .zero)
        self[.fileUploadInitiate] = .perMinute(fileUpload * u)
        self[.query] = .perMinute(query * u)
        self[.job] = .perMinute(job * u)
    }
}
