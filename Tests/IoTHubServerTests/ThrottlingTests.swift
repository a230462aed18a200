import Foundation
import IoTHubProtocol
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// One published number: `rate` per second (or per minute when `perMinute`) for `operation` on `units` of `tier`.
struct PublishedLimit: Sendable, CustomTestStringConvertible {
    let tier: HubTier
    let units: Int
    let operation: ThrottledOperation
    let rate: Double
    var perMinute = false

    var testDescription: String {
        "\(tier.name)×\(units) \(operation.rawValue) \(rate)/\(perMinute ? "min" : "s")"
    }
}

/// "IoT Hub quotas and throttling", operation throttles (the free tier shares the S1 column), including the
/// "higher of" floors.
private let publishedLimits: [PublishedLimit] = [
    // New device connections and device-to-cloud sends: higher of 100/s or 12/s/unit on F1/S1.
    .init(tier: .free, units: 1, operation: .connect, rate: 100),
    .init(tier: .standard1, units: 1, operation: .connect, rate: 100),
    .init(tier: .standard1, units: 2, operation: .connect, rate: 100),        // 2 × 12 = 24, below the floor
    .init(tier: .standard1, units: 9, operation: .connect, rate: 108),        // 9 × 12
    .init(tier: .standard1, units: 9, operation: .deviceToCloud, rate: 108),
    .init(tier: .standard1, units: 2, operation: .deviceToCloud, rate: 100),
    .init(tier: .standard2, units: 1, operation: .connect, rate: 120),
    .init(tier: .standard2, units: 3, operation: .deviceToCloud, rate: 360),
    .init(tier: .standard3, units: 2, operation: .connect, rate: 12_000),
    .init(tier: .standard3, units: 1, operation: .deviceToCloud, rate: 6_000),
    // Cloud-to-device sends: 100/min/unit (S3 5,000/min/unit); HTTPS receives 1,000/min/unit (S3 50,000).
    .init(tier: .free, units: 1, operation: .cloudToDeviceSend, rate: 100, perMinute: true),
    .init(tier: .standard1, units: 4, operation: .cloudToDeviceSend, rate: 400, perMinute: true),
    .init(tier: .standard2, units: 2, operation: .cloudToDeviceSend, rate: 200, perMinute: true),
    .init(tier: .standard3, units: 2, operation: .cloudToDeviceSend, rate: 10_000, perMinute: true),
    .init(tier: .standard1, units: 1, operation: .cloudToDeviceReceive, rate: 1_000, perMinute: true),
    .init(tier: .standard3, units: 1, operation: .cloudToDeviceReceive, rate: 50_000, perMinute: true),
    // Twin reads: 100/s on F1/S1 whatever the units; higher of 100/s or 10/s/unit on S2; 500/s/unit on S3.
    .init(tier: .free, units: 1, operation: .twinRead, rate: 100),
    .init(tier: .standard1, units: 50, operation: .twinRead, rate: 100),
    .init(tier: .standard2, units: 1, operation: .twinRead, rate: 100),
    .init(tier: .standard2, units: 20, operation: .twinRead, rate: 200),
    .init(tier: .standard3, units: 2, operation: .twinRead, rate: 1_000),
    // Twin updates: 50/s; higher of 50/s or 5/s/unit; 250/s/unit.
    .init(tier: .standard1, units: 10, operation: .twinUpdate, rate: 50),
    .init(tier: .standard2, units: 1, operation: .twinUpdate, rate: 50),
    .init(tier: .standard2, units: 30, operation: .twinUpdate, rate: 150),
    .init(tier: .standard3, units: 1, operation: .twinUpdate, rate: 250),
    // Direct methods in 4 KB chunks: 160 KB/s/unit = 40; 480 KB/s/unit = 120; 24 MB/s/unit = 6,000.
    .init(tier: .free, units: 1, operation: .methodInvoke, rate: 40),
    .init(tier: .standard1, units: 3, operation: .methodInvoke, rate: 120),
    .init(tier: .standard2, units: 2, operation: .methodInvoke, rate: 240),
    .init(tier: .standard3, units: 1, operation: .methodInvoke, rate: 6_000),
    // Identity registry: 100/min/unit, S3 5,000/min/unit.
    .init(tier: .free, units: 1, operation: .registry, rate: 100, perMinute: true),
    .init(tier: .standard1, units: 2, operation: .registry, rate: 200, perMinute: true),
    .init(tier: .standard2, units: 1, operation: .registry, rate: 100, perMinute: true),
    .init(tier: .standard3, units: 3, operation: .registry, rate: 15_000, perMinute: true),
    // File upload initiations: 100/min/unit, S3 5,000/min/unit. Queries: 20/min/unit, S3 1,000/min/unit.
    .init(tier: .standard1, units: 2, operation: .fileUploadInitiate, rate: 200, perMinute: true),
    .init(tier: .standard3, units: 1, operation: .fileUploadInitiate, rate: 5_000, perMinute: true),
    .init(tier: .standard2, units: 5, operation: .query, rate: 100, perMinute: true),
    .init(tier: .standard3, units: 1, operation: .query, rate: 1_000, perMinute: true),
    // Jobs: 100/min/unit (S3 5,000); per-device job operations 10/s, higher of 10/s or 1/s/unit, 50/s/unit.
    .init(tier: .standard1, units: 1, operation: .job, rate: 100, perMinute: true),
    .init(tier: .standard3, units: 1, operation: .job, rate: 5_000, perMinute: true),
    .init(tier: .standard1, units: 5, operation: .jobDevice, rate: 10),
    .init(tier: .standard2, units: 25, operation: .jobDevice, rate: 25),
    .init(tier: .standard3, units: 2, operation: .jobDevice, rate: 100),
    // Configurations and edge deployments: 20/min/unit on every tier.
    .init(tier: .standard1, units: 1, operation: .configuration, rate: 20, perMinute: true),
    .init(tier: .standard3, units: 2, operation: .configuration, rate: 40, perMinute: true),
]

@Suite("throttling")
struct ThrottlingTests {
    let start = ContinuousClock.now

    /// A throttle with only `operation` limited to `limit`.
    func throttle(_ operation: ThrottledOperation, _ limit: OperationLimit) throws -> HubThrottle {
        var configuration = ThrottlingConfiguration.unlimited
        try configuration.override(operation, with: limit)
        return HubThrottle(configuration: configuration, now: start)
    }

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    // MARK: Configuration

    @Test("tier names parse ignoring case; an unknown name lists the valid ones")
    func tierNames() throws {
        #expect(try HubTier(parsing: "f1") == .free)
        #expect(try HubTier(parsing: "S1") == .standard1)
        #expect(try HubTier(parsing: "s2") == .standard2)
        #expect(try HubTier(parsing: "S3") == .standard3)
        #expect(try HubTier(parsing: "Unlimited") == .unlimited)
        #expect(throws: ThrottlingConfigurationError.unknownTier("B1")) { try HubTier(parsing: "B1") }
        let error = ThrottlingConfigurationError.unknownTier("S4")
        #expect(error.description.contains("'S4'") && error.description.contains("unlimited, F1, S1, S2, S3"))
        #expect(try ThrottlingConfiguration(tier: "s1", units: 3).limits.units == 3)
    }

    @Test("unit counts are those IoT Hub sells: F1 one, S1 and S2 up to 200, S3 up to 10")
    func unitRanges() throws {
        #expect(throws: ThrottlingConfigurationError.unitsOutOfRange(tier: .free, units: 2)) {
            try ThrottlingConfiguration(tier: .free, units: 2)
        }
        _ = try ThrottlingConfiguration(tier: .standard1, units: 200)
        _ = try ThrottlingConfiguration(tier: .standard2, units: 200)
        _ = try ThrottlingConfiguration(tier: .standard3, units: 10)
        for (tier, units) in [(HubTier.standard1, 201), (.standard2, 0), (.standard3, 11), (.standard3, -1)] {
            #expect(throws: ThrottlingConfigurationError.unitsOutOfRange(tier: tier, units: units)) {
                try ThrottlingConfiguration(tier: tier, units: units)
            }
        }
        #expect(ThrottlingConfigurationError.unitsOutOfRange(tier: .standard3, units: 11).description
            == "S3 cannot have 11 units; IoT Hub sells 1 to 10 units of S3")
        #expect(ThrottlingConfigurationError.unitsOutOfRange(tier: .free, units: 2).description
            == "F1 cannot have 2 units; IoT Hub sells exactly 1 unit of F1")
    }

    @Test("each tier's throttles are IoT Hub's published numbers", arguments: publishedLimits)
    func publishedThrottle(_ expected: PublishedLimit) throws {
        let limits = try ThrottlingConfiguration(tier: expected.tier, units: expected.units).limits
        let limit = try #require(limits[expected.operation])
        let rate = expected.perMinute ? limit.ratePerSecond * 60 : limit.ratePerSecond
        #expect(abs(rate - expected.rate) < 1e-9 * expected.rate)
        // Bursts are one minute of the rate; registry operations are not queued (the bulk-registry example).
        #expect(abs(limit.burst - max(1, limit.ratePerSecond * 60)) < 1e-6)
        #expect(limit.shapingWindow == (expected.operation == .registry ? .zero : OperationLimit.defaultShapingWindow))
    }

    @Test("every operation is throttled on every paid tier and on F1; nothing on unlimited")
    func everyOperationThrottled() throws {
        for tier in [HubTier.free, .standard1, .standard2, .standard3] {
            let limits = try ThrottlingConfiguration(tier: tier).limits
            for operation in ThrottledOperation.allCases { #expect(limits[operation] != nil, "\(tier) \(operation)") }
            #expect(!limits.isUnlimited)
        }
        let unlimited = ThrottlingConfiguration.unlimited.limits
        #expect(unlimited.isUnlimited && unlimited.dailyQuota == nil)
        #expect(ThrottledOperation.allCases.allSatisfy { unlimited[$0] == nil })
        #expect(ThrottledOperation.allCases.enumerated().allSatisfy { $0.offset == $0.element.ordinal })
    }

    @Test("daily quota per unit: F1 8,000 in 0.5 KB chunks; S1 400,000, S2 6,000,000, S3 300,000,000 in 4 KB")
    func dailyQuotas() throws {
        let cases: [(HubTier, Int, Int, Int)] = [
            (.free, 1, 8_000, 512), (.standard1, 1, 400_000, 4_096), (.standard1, 3, 1_200_000, 4_096),
            (.standard2, 2, 12_000_000, 4_096), (.standard3, 10, 3_000_000_000, 4_096),
        ]
        for (tier, units, messages, chunk) in cases {
            let quota = try #require(try ThrottlingConfiguration(tier: tier, units: units).limits.dailyQuota)
            #expect(quota == DailyMessageQuota(messages: messages, chunkBytes: chunk), "\(tier.name)×\(units)")
        }
    }

    @Test("overrides are checked, can lift a throttle, and can throttle one operation of the unlimited tier")
    func overrides() throws {
        var configuration = try ThrottlingConfiguration(tier: .standard1)
        #expect(throws: ThrottlingConfigurationError.self) { try configuration.override(.connect, with: .perSecond(0)) }
        #expect(throws: ThrottlingConfigurationError.self) { try configuration.override(.connect, with: .perSecond(.nan)) }
        #expect(throws: ThrottlingConfigurationError.self) {
            try configuration.override(.connect, with: .perSecond(5, burst: 0.5))
        }
        #expect(throws: ThrottlingConfigurationError.self) {
            try configuration.override(.connect, with: .perSecond(5, shapingWindow: .seconds(-1)))
        }
        #expect(throws: ThrottlingConfigurationError.self) {
            try configuration.overrideDailyQuota(DailyMessageQuota(messages: 0, chunkBytes: 4096))
        }
        try configuration.override(.query, with: nil)
        try configuration.override(.connect, with: .perSecond(5, burst: 2))
        #expect(configuration.limits[.query] == nil)
        #expect(configuration.limits[.connect] == OperationLimit(ratePerSecond: 5, burst: 2))
        let throttle = HubThrottle(configuration: configuration, now: start)
        for _ in 0..<1_000 { #expect(throttle.admit(.query, cost: 1_000, at: start) == .allow) }

        var local = ThrottlingConfiguration.unlimited
        try local.override(.twinUpdate, with: .perSecond(1, burst: 1, shapingWindow: .zero))
        let partly = HubThrottle(configuration: local, now: start)
        #expect(!partly.isUnlimited)
        #expect(partly.admit(.twinUpdate, at: start) == .allow)
        #expect(!partly.admit(.twinUpdate, at: start).admits)
        #expect(partly.admit(.twinRead, at: start) == .allow)
        #expect(OperationLimit.perMinute(100).description == "1.67/s (100/min), burst 100, shaping 10.0 seconds")
    }

    // MARK: Operation throttles

    @Test("a burst within the limit is admitted at once")
    func burstAllowed() throws {
        let throttle = try throttle(.deviceToCloud, .perSecond(100))   // burst: one minute, 6,000
        for _ in 0..<6_000 { #expect(throttle.admit(.deviceToCloud, at: start) == .allow) }
        #expect(throttle.admit(.deviceToCloud, at: start) == .delay(.milliseconds(10)))

        let s1 = HubThrottle(configuration: try ThrottlingConfiguration(tier: .standard1), now: start)
        for _ in 0..<100 { #expect(s1.admit(.registry, at: start) == .allow) }
        #expect(!s1.admit(.registry, at: start).admits)
    }

    @Test("beyond the burst, delays grow with the backlog, then requests are rejected")
    func delaysThenRejections() throws {
        let throttle = try throttle(.connect, .perSecond(10, burst: 10, shapingWindow: .seconds(1)))
        for _ in 0..<10 { #expect(throttle.admit(.connect, at: start) == .allow) }
        for n in 1...10 { #expect(throttle.admit(.connect, at: start) == .delay(.milliseconds(100 * n))) }
        // The queue holds one second of backlog: the next would wait 1.1 s, so it is refused, and nothing is
        // reserved: it could be admitted (with the full window's wait) 0.1 s later.
        #expect(throttle.admit(.connect, at: start) == .reject(retryAfter: .milliseconds(100), reason: .throttled))
        #expect(throttle.admit(.connect, at: start) == .reject(retryAfter: .milliseconds(100), reason: .throttled))
        #expect(throttle.admit(.connect, at: at(100)) == .delay(.seconds(1)))
        // A throttle without a shaping window rejects right after the burst, with the refill time as retry.
        let strict = try self.throttle(.registry, .perSecond(2, burst: 2, shapingWindow: .zero))
        #expect(strict.admit(.registry, at: start) == .allow && strict.admit(.registry, at: start) == .allow)
        #expect(strict.admit(.registry, at: start) == .reject(retryAfter: .milliseconds(500), reason: .throttled))
    }

    @Test("delayed requests reserve their slots, so callers delayed together are spaced at the limit rate")
    func delaysReserve() async throws {
        let throttle = try throttle(.twinRead, .perSecond(10, burst: 1, shapingWindow: .seconds(5)))
        #expect(throttle.admit(.twinRead, at: start) == .allow)
        let decisions = await withTaskGroup(of: ThrottleDecision.self) { group in
            for _ in 0..<20 { group.addTask { throttle.admit(.twinRead, at: start) } }
            return await group.reduce(into: [ThrottleDecision]()) { $0.append($1) }
        }
        let delays = Set(decisions.map { decision -> Duration in
            guard case .delay(let wait) = decision else { return .zero }
            return wait
        })
        #expect(delays == Set((1...20).map { Duration.milliseconds(100 * $0) }))
        // After the first 5 of those slots have passed, a newcomer queues behind the other 15.
        #expect(throttle.admit(.twinRead, at: at(500)) == .delay(.milliseconds(1_600)))
    }

    @Test("the bucket refills over time, never beyond the burst")
    func refill() throws {
        let throttle = try throttle(.cloudToDeviceSend, .perSecond(10, burst: 20, shapingWindow: .zero))
        for _ in 0..<20 { #expect(throttle.admit(.cloudToDeviceSend, at: start) == .allow) }
        #expect(!throttle.admit(.cloudToDeviceSend, at: start).admits)
        for _ in 0..<5 { #expect(throttle.admit(.cloudToDeviceSend, at: at(500)) == .allow) }
        #expect(throttle.admit(.cloudToDeviceSend, at: at(500))
            == .reject(retryAfter: .milliseconds(100), reason: .throttled))
        // An hour later the bucket is full again: 20, not 36,000.
        for _ in 0..<20 { #expect(throttle.admit(.cloudToDeviceSend, at: at(3_600_500)) == .allow) }
        #expect(!throttle.admit(.cloudToDeviceSend, at: at(3_600_500)).admits)
        // A time earlier than the last call counts as the last call.
        #expect(!throttle.admit(.cloudToDeviceSend, at: start).admits)
    }

    @Test("operations are throttled independently")
    func independence() throws {
        let throttle = HubThrottle(configuration: try ThrottlingConfiguration(tier: .free), now: start)
        for _ in 0..<50 * 60 { #expect(throttle.admit(.twinUpdate, at: start) == .allow) }
        #expect(throttle.admit(.twinUpdate, at: start) == .delay(.milliseconds(20)))
        #expect(throttle.admit(.twinRead, at: start) == .allow)
        #expect(throttle.admit(.deviceToCloud, at: start) == .allow)
        #expect(throttle.admit(.connect, at: start) == .allow)
    }

    @Test("bulk registry requests: two of 50 identities fit an S1 unit's minute, the third is refused")
    func bulkRegistry() throws {
        let throttle = HubThrottle(configuration: try ThrottlingConfiguration(tier: .standard1), now: start)
        #expect(throttle.admit(.registry, cost: 50, at: start) == .allow)
        #expect(throttle.admit(.registry, cost: 50, at: at(1_000)) == .allow)
        // 3.33 identities have refilled by then, at 100/min; the missing 46.67 take 28 s more.
        #expect(throttle.admit(.registry, cost: 50, at: at(2_000))
            == .reject(retryAfter: .seconds(28), reason: .throttled))
        #expect(throttle.admit(.registry, cost: 50, at: at(30_000)) == .allow)
    }

    @Test("direct methods are metered in 4 KB chunks of request payload")
    func methodChunks() throws {
        #expect(ThrottledOperation.methodInvoke.cost(payloadBytes: 0) == 1)
        #expect(ThrottledOperation.methodInvoke.cost(payloadBytes: 4_096) == 1)
        #expect(ThrottledOperation.methodInvoke.cost(payloadBytes: 4_097) == 2)
        #expect(ThrottledOperation.methodInvoke.cost(payloadBytes: 8_192) == 2)
        #expect(ThrottledOperation.methodInvoke.cost(payloadBytes: 160 * 1_024) == 40)
        #expect(ThrottledOperation.twinUpdate.cost(payloadBytes: 100_000) == 1)
        // S1, one unit: 160 KB/s is 40 calls/s of up to 4 KB, 20 of up to 8 KB.
        let throttle = try throttle(.methodInvoke, .perSecond(40, burst: 40, shapingWindow: .zero))
        let cost = ThrottledOperation.methodInvoke.cost(payloadBytes: 6_000)
        for _ in 0..<20 { #expect(throttle.admit(.methodInvoke, cost: cost, at: start) == .allow) }
        #expect(!throttle.admit(.methodInvoke, cost: 1, at: start).admits)
    }

    @Test("a request costing more than the burst needs a full bucket and leaves the rest as backlog")
    func oversizedRequest() throws {
        let throttle = try throttle(.methodInvoke, .perSecond(10, burst: 10, shapingWindow: .seconds(2)))
        #expect(throttle.admit(.methodInvoke, cost: 15, at: start) == .allow)
        #expect(throttle.admit(.methodInvoke, cost: 1, at: start) == .delay(.milliseconds(600)))
    }

    @Test("the unlimited tier admits everything and meters nothing")
    func unlimited() {
        let throttle = HubThrottle(configuration: .unlimited, now: start)
        #expect(throttle.isUnlimited)
        for operation in ThrottledOperation.allCases {
            for _ in 0..<1_000 {
                #expect(throttle.admit(operation, cost: 1_000_000) == .allow)
                #expect(throttle.admit(operation, at: start) == .allow)
            }
        }
        #expect(throttle.meterMessages(bytes: 1 << 30) == .allow)
        #expect(throttle.checkDailyQuota() == .allow)
        #expect(throttle.dailyQuotaUsage() == nil)
    }

    // MARK: Daily quota

    /// 2023-11-14 00:00:00 UTC, a Tuesday.
    let midnight = Date(timeIntervalSince1970: 19_675 * 86_400)

    @Test("messages are charged in 4 KB chunks (0.5 KB on F1); an empty one counts one")
    func quotaChunks() throws {
        let s1 = HubThrottle(configuration: try ThrottlingConfiguration(tier: .standard1), today: midnight)
        let noon = midnight + 43_200
        for bytes in [0, 100, 4_096, 4_097, 6_144, 100 * 1_024] {
            #expect(s1.meterMessages(bytes: bytes, at: noon) == .allow)
        }
        // 1 + 1 + 1 + 2 + 2 + 25
        #expect(s1.dailyQuotaUsage(at: noon) == DailyQuotaUsage(used: 32, limit: 400_000, resetsAt: midnight + 86_400))

        let f1 = HubThrottle(configuration: try ThrottlingConfiguration(tier: .free), today: midnight)
        for bytes in [0, 512, 513, 4_097] { #expect(f1.meterMessages(bytes: bytes, at: noon) == .allow) }
        // 1 + 1 + 2 + 9
        #expect(f1.dailyQuotaUsage(at: noon)?.used == 13)
        #expect(f1.dailyQuotaUsage(at: noon)?.remaining == 8_000 - 13)
    }

    @Test("once the quota is used up messages are refused until 00:00 UTC, then the count starts again")
    func quotaReset() throws {
        var configuration = try ThrottlingConfiguration(tier: .standard1)
        try configuration.overrideDailyQuota(DailyMessageQuota(messages: 5, chunkBytes: 4_096))
        let throttle = HubThrottle(configuration: configuration, today: midnight)
        let evening = midnight + 86_399        // 23:59:59 UTC
        #expect(throttle.meterMessages(bytes: 10, at: evening) == .allow)             // 1
        #expect(throttle.meterMessages(bytes: 8_000, at: evening) == .allow)          // 3
        #expect(throttle.checkDailyQuota(at: evening) == .allow)
        // The message that reaches the quota is charged in full.
        #expect(throttle.meterMessages(bytes: 12_000, at: evening) == .allow)         // 6
        #expect(throttle.dailyQuotaUsage(at: evening)?.used == 6)
        let refused = ThrottleDecision.reject(retryAfter: .seconds(1), reason: .dailyQuotaExceeded)
        #expect(throttle.meterMessages(bytes: 1, at: evening) == refused)
        #expect(throttle.checkDailyQuota(at: evening) == refused)
        #expect(throttle.dailyQuotaUsage(at: evening)?.used == 6)
        // Operation throttles are separate from the quota.
        #expect(throttle.admit(.deviceToCloud) == .allow)
        // 00:00:00 UTC the next day.
        let next = midnight + 86_400
        #expect(throttle.checkDailyQuota(at: next) == .allow)
        #expect(throttle.meterMessages(bytes: 1, at: next) == .allow)
        #expect(throttle.dailyQuotaUsage(at: next) == DailyQuotaUsage(used: 1, limit: 5, resetsAt: next + 86_400))
        // A wall clock stepping back into the previous day keeps today's count.
        #expect(throttle.meterMessages(bytes: 1, at: evening) == .allow)
        #expect(throttle.dailyQuotaUsage(at: next)?.used == 2)
    }

    @Test("rejections map to IoT Hub's errors: 429001 ThrottlingException, 403002 IotHubQuotaExceeded")
    func errors() throws {
        let throttled = ThrottleDecision.reject(retryAfter: .milliseconds(1_500), reason: .throttled)
        let error = try #require(throttled.error(for: .deviceToCloud))
        #expect(error.code == .throttlingException && error.code.httpStatus == 429)
        #expect(error.message.contains("device_to_cloud") && error.message.contains("1.5 s"))
        let quota = try #require(ThrottleDecision.reject(retryAfter: .seconds(60), reason: .dailyQuotaExceeded)
            .error(for: .twinRead))
        #expect(quota.code == .iotHubQuotaExceeded && quota.code.httpStatus == 403)
        #expect(quota.message.contains("00:00 UTC"))
        #expect(ThrottleDecision.allow.error(for: .connect) == nil)
        #expect(ThrottleDecision.delay(.seconds(1)).error(for: .connect) == nil)
        #expect(ThrottleDecision.delay(.seconds(1)).admits && !throttled.admits)
    }

    @Test("which operations IoT Hub charges against the daily quota")
    func chargedOperations() {
        let charged = Set(ThrottledOperation.allCases.filter(\.isChargedAgainstDailyQuota))
        #expect(charged == [.deviceToCloud, .cloudToDeviceSend, .twinRead, .twinUpdate, .methodInvoke,
                            .fileUploadInitiate, .query, .jobDevice])
    }

    // MARK: Metrics

    @Test("the tier, limits, decisions and quota appear in the Prometheus text")
    func metrics() throws {
        let metrics = HubMetrics()
        var configuration = try ThrottlingConfiguration(tier: .standard1, units: 2)
        try configuration.override(.connect, with: .perSecond(1, burst: 1, shapingWindow: .seconds(1)))
        try configuration.overrideDailyQuota(DailyMessageQuota(messages: 3, chunkBytes: 4_096))
        let throttle = HubThrottle(configuration: configuration, metrics: metrics, now: start, today: midnight)
        #expect(throttle.admit(.connect, at: start) == .allow)
        #expect(throttle.admit(.connect, at: start) == .delay(.seconds(1)))
        #expect(!throttle.admit(.connect, at: start).admits)
        #expect(!throttle.admit(.connect, at: start).admits)
        #expect(throttle.meterMessages(bytes: 5_000, at: midnight) == .allow)
        #expect(throttle.meterMessages(bytes: 1, at: midnight) == .allow)
        #expect(!throttle.meterMessages(bytes: 1, at: midnight).admits)

        let text = String(decoding: metrics.render(), as: UTF8.self)
        let lines = Set(text.split(separator: "\n").map(String.init))
        for expected in [
            #"iothub_tier_info{tier="S1",units="2"} 1.0"#,
            #"iothub_throttle_limit_per_second{operation="connect"} 1.0"#,
            #"iothub_throttle_limit_per_second{operation="device_to_cloud"} 100.0"#,
            #"iothub_throttle_decisions_total{operation="connect",decision="delayed"} 1"#,
            #"iothub_throttle_decisions_total{operation="connect",decision="rejected"} 2"#,
            #"iothub_throttle_decisions_total{operation="twin_read",decision="rejected"} 0"#,
            "iothub_daily_quota_limit_messages 3.0",
            "iothub_daily_quota_used_messages 3.0",
            "iothub_daily_quota_rejections_total 1",
        ] {
            #expect(lines.contains(expected), "missing \(expected) in:\n\(text)")
        }
    }

    @Test("the unlimited tier reports its tier and no quota")
    func unlimitedMetrics() {
        let metrics = HubMetrics()
        _ = HubThrottle(configuration: .unlimited, metrics: metrics)
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains(#"iothub_tier_info{tier="unlimited",units="1"} 1.0"#))
        #expect(!text.contains("iothub_daily_quota") && !text.contains("iothub_throttle_decisions_total"))
    }
}
