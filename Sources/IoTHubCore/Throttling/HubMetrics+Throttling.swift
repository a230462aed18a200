import CoreMetrics

/// The throttling metrics, so a run against the local hub shows whether a fleet stays within the real limits:
///
/// - `iothub_tier_info{tier="S1",units="2"} 1`: the configured edition;
/// - `iothub_throttle_limit_per_second{operation}`: each throttle's sustained rate (4 KB chunks for methods);
/// - `iothub_throttle_decisions_total{operation,decision="delayed"|"rejected"}`: traffic-shaped and refused requests;
/// - `iothub_daily_quota_limit_messages` and `iothub_daily_quota_used_messages`: the quota and today's use;
/// - `iothub_daily_quota_rejections_total`: requests refused because the quota is used up.
extension HubMetrics {
    /// Publishes the tier, the throttles and the quota of `configuration`, and returns the instruments a
    /// ``HubThrottle`` updates.
    func throttlingInstruments(for configuration: ThrottlingConfiguration) -> ThrottlingInstruments {
        let limits = configuration.limits
        let edition = [("tier", configuration.tier.name), ("units", String(configuration.units))]
        throttlingGauge("iothub_tier_info", edition).set(1)
        var operations = [ThrottlingInstruments.Operation?](repeating: nil, count: ThrottledOperation.allCases.count)
        for operation in ThrottledOperation.allCases {
            guard let limit = limits[operation] else { continue }
            let labels = [("operation", operation.rawValue)]
            throttlingGauge("iothub_throttle_limit_per_second", labels).set(limit.ratePerSecond)
            operations[operation.ordinal] = ThrottlingInstruments.Operation(
                delayed: counter("iothub_throttle_decisions_total", labels + [("decision", "delayed")]),
                rejected: counter("iothub_throttle_decisions_total", labels + [("decision", "rejected")]))
        }
        var quota: ThrottlingInstruments.Quota?
        if let daily = limits.dailyQuota {
            throttlingGauge("iothub_daily_quota_limit_messages", []).set(daily.messages)
            let used = throttlingGauge("iothub_daily_quota_used_messages", [])
            used.set(0)
            quota = ThrottlingInstruments.Quota(used: used, rejected: counter("iothub_daily_quota_rejections_total", []))
        }
        return ThrottlingInstruments(operations: operations, quota: quota)
    }

    /// A gauge by name and labels (the registry returns the existing one for the same name and labels).
    private func throttlingGauge(_ name: String, _ dimensions: [(String, String)]) -> CoreMetrics.Meter {
        CoreMetrics.Meter(label: name, dimensions: dimensions, factory: factory)
    }
}

/// The metric instruments of one ``HubThrottle``, created once so the hot path only increments and sets.
struct ThrottlingInstruments: Sendable {
    struct Operation: Sendable {
        let delayed: CoreMetrics.Counter
        let rejected: CoreMetrics.Counter
    }

    struct Quota: Sendable {
        let used: CoreMetrics.Meter
        let rejected: CoreMetrics.Counter
    }

    /// By ``ThrottledOperation/ordinal``; `nil` for unthrottled operations.
    let operations: [Operation?]
    let quota: Quota?
}
