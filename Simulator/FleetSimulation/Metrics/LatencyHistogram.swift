import Histogram

/// Latencies of one operation as an HdrHistogram (microseconds, 1 µs to 1 hour, three significant digits):
/// constant memory however many samples, exact to 0.1 %, and mergeable, so workers send theirs to the
/// coordinator and shards merge across machines with the same result as one run.
public struct LatencyHistogram: Sendable, Codable, Equatable {
    /// The longest latency kept apart; longer ones count as this.
    public static let highestMicroseconds: UInt64 = 3_600_000_000

    private var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: highestMicroseconds,
                                              numberOfSignificantValueDigits: .three)

    public init() {}

    public var count: Int { Int(histogram.totalCount) }

    /// Records one latency (clamped to 1 µs … 1 h).
    public mutating func record(_ latency: Duration) {
        let (seconds, attoseconds) = latency.components
        let microseconds = seconds < 0 ? 0 : UInt64(seconds) &* 1_000_000 &+ UInt64(max(attoseconds, 0) / 1_000_000_000_000)
        _ = histogram.record(min(max(microseconds, 1), Self.highestMicroseconds))
    }

    /// Adds every sample of `other`.
    public mutating func merge(_ other: LatencyHistogram) {
        histogram.add(other.histogram)
    }

    /// The latency at `percentile` (0–100), in milliseconds; 0 when empty.
    public func milliseconds(atPercentile percentile: Double) -> Double {
        count == 0 ? 0 : Double(histogram.valueAtPercentile(percentile)) / 1000
    }

    /// The recorded buckets in ascending order: (value in µs, samples).
    public var recorded: [(value: UInt64, count: UInt64)] {
        histogram.recordedValues().map { ($0.value, UInt64($0.count)) }
    }

    /// Forgets every sample (keeping the counters' memory).
    public mutating func reset() { histogram.reset() }

    public var meanMilliseconds: Double { count == 0 ? 0 : histogram.mean / 1000 }
    public var maxMilliseconds: Double { count == 0 ? 0 : Double(histogram.max) / 1000 }
    public var minMilliseconds: Double { count == 0 ? 0 : Double(histogram.min) / 1000 }

    /// The distribution as (upper bound in ms, samples in that bucket) over logarithmic buckets doubling from
    /// 0.1 ms: what a report's distribution chart draws.
    public func buckets() -> [(upperMilliseconds: Double, count: Int)] {
        guard count > 0 else { return [] }
        return histogram.logarithmicBucketValues(valueUnitsInFirstBucket: 100, logBase: 2).compactMap { step in
            step.countAddedInThisIterationStep == 0 ? nil : (Double(step.value) / 1000, Int(step.countAddedInThisIterationStep))
        }
    }

    // MARK: Codable: sparse (value, count) pairs, not the ~23,000 counters of the whole range.

    private enum CodingKeys: String, CodingKey { case values, counts }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let values = try container.decode([UInt64].self, forKey: .values)
        let counts = try container.decode([UInt64].self, forKey: .counts)
        guard values.count == counts.count else {
            throw DecodingError.dataCorruptedError(forKey: .counts, in: container,
                                                   debugDescription: "\(values.count) values but \(counts.count) counts")
        }
        for (value, count) in zip(values, counts) {
            _ = histogram.record(min(max(value, 1), Self.highestMicroseconds), count: count)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        let recorded = Array(histogram.recordedValues())
        try container.encode(recorded.map(\.value), forKey: .values)
        try container.encode(recorded.map { UInt64($0.count) }, forKey: .counts)
    }

    public static func == (lhs: LatencyHistogram, rhs: LatencyHistogram) -> Bool {
        lhs.count == rhs.count && lhs.histogram.recordedValues().map(\.count) == rhs.histogram.recordedValues().map(\.count)
            && lhs.histogram.recordedValues().map(\.value) == rhs.histogram.recordedValues().map(\.value)
    }
}

extension LatencySummary {
    /// Percentiles from a histogram (within its 0.1 % precision).
    public init(_ histogram: LatencyHistogram) {
        self.init([])
        count = histogram.count
        mean = histogram.meanMilliseconds
        p50 = histogram.milliseconds(atPercentile: 50)
        p90 = histogram.milliseconds(atPercentile: 90)
        p99 = histogram.milliseconds(atPercentile: 99)
        max = histogram.maxMilliseconds
    }
}
