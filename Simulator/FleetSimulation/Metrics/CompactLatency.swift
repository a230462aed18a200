/// A latency distribution kept as sorted (value, count) pairs: the recorded buckets of a ``LatencyHistogram``
/// (same 0.1 % precision) without its fixed array of ~23,000 counters, so a run can keep one per operation for
/// every second of its timeline. Merging adds counts value by value, so workers' windows merge exactly.
public struct CompactLatency: Sendable, Codable, Equatable {
    public private(set) var values: [UInt64] = []
    public private(set) var counts: [UInt64] = []

    public init() {}

    /// The recorded buckets of `histogram`.
    public init(_ histogram: LatencyHistogram) {
        for (value, count) in histogram.recorded {
            values.append(value)
            counts.append(count)
        }
    }

    public var count: Int { Int(counts.reduce(0, +)) }

    public mutating func merge(_ other: CompactLatency) {
        var mergedValues: [UInt64] = [], mergedCounts: [UInt64] = []
        mergedValues.reserveCapacity(values.count + other.values.count)
        mergedCounts.reserveCapacity(values.count + other.values.count)
        var i = 0, j = 0
        while i < values.count || j < other.values.count {
            if j == other.values.count || (i < values.count && values[i] < other.values[j]) {
                mergedValues.append(values[i]); mergedCounts.append(counts[i]); i += 1
            } else if i == values.count || other.values[j] < values[i] {
                mergedValues.append(other.values[j]); mergedCounts.append(other.counts[j]); j += 1
            } else {
                mergedValues.append(values[i]); mergedCounts.append(counts[i] + other.counts[j]); i += 1; j += 1
            }
        }
        values = mergedValues
        counts = mergedCounts
    }

    /// The latency at `percentile` (0–100) in milliseconds: the smallest recorded value with at least that share
    /// of samples at or below it; 0 when empty.
    public func milliseconds(atPercentile percentile: Double) -> Double {
        let total = counts.reduce(0, +)
        guard total > 0 else { return 0 }
        let wanted = max(1, UInt64((min(max(percentile, 0), 100) / 100 * Double(total)).rounded(.up)))
        var seen: UInt64 = 0
        for (value, count) in zip(values, counts) {
            seen += count
            if seen >= wanted { return Double(value) / 1000 }
        }
        return Double(values.last ?? 0) / 1000
    }
}
