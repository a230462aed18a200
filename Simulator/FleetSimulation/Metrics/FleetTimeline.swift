import IoTHubProtocol

/// Per-second counts over a run (devices connected, messages sent and acknowledged, errors), for the report's
/// charts. Workers keep their own, with seconds counted from the run's common start, and ``merge(_:)`` adds them
/// second by second: a worker's devices are its own, so connected gauges add up too.
public struct FleetTimeline: Sendable, Codable, Equatable {
    /// What happened in one second.
    public struct Second: Sendable, Codable, Equatable {
        /// Devices connected at the end of the second (a gauge).
        public var connected: Int?
        /// Events in the second, by name (`d2c.sent`, `d2c.acknowledged`, `errors`, `throttled`, …).
        public var counts: [String: Int] = [:]
        /// Latencies of operations that finished in the second, per operation (for percentiles over time).
        public var latency: [FleetOperation: CompactLatency]?

        public init() {}
    }

    public private(set) var seconds: [Second] = []

    public init() {}

    /// Counts `amount` of `name` in second `second` (from the run's start).
    public mutating func count(_ name: String, at second: Int, by amount: Int = 1) {
        guard second >= 0 else { return }
        grow(to: second)
        seconds[second].counts[name, default: 0] += amount
    }

    /// Sets the connected gauge for `second`.
    public mutating func connected(_ devices: Int, at second: Int) {
        guard second >= 0 else { return }
        grow(to: second)
        seconds[second].connected = devices
    }

    /// Adds `window` (latencies of `operation` that finished in `second`).
    public mutating func latency(_ operation: FleetOperation, _ window: CompactLatency, at second: Int) {
        guard second >= 0, window.count > 0 else { return }
        grow(to: second)
        seconds[second].latency = seconds[second].latency ?? [:]
        seconds[second].latency?[operation, default: CompactLatency()].merge(window)
    }

    /// `operation`'s latency at `percentile` per second, in milliseconds (`nil` for seconds without samples).
    public func percentileSeries(_ operation: FleetOperation, _ percentile: Double) -> [Double?] {
        seconds.map { second in
            guard let window = second.latency?[operation], window.count > 0 else { return nil }
            return window.milliseconds(atPercentile: percentile)
        }
    }

    /// The operations with latencies in the timeline.
    public var timedOperations: [FleetOperation] {
        Set(seconds.flatMap { $0.latency?.keys.map { $0 } ?? [] }).sorted()
    }

    public mutating func merge(_ other: FleetTimeline) {
        grow(to: other.seconds.count - 1)
        for (index, theirs) in other.seconds.enumerated() {
            seconds[index].counts.merge(theirs.counts, uniquingKeysWith: +)
            for (operation, window) in theirs.latency ?? [:] { latency(operation, window, at: index) }
            if let connected = theirs.connected { seconds[index].connected = (seconds[index].connected ?? 0) + connected }
        }
    }

    /// The series of `name` per second (0 where nothing was counted).
    public func series(_ name: String) -> [Int] {
        seconds.map { $0.counts[name] ?? 0 }
    }

    /// The connected gauge per second, carrying the last value over seconds that did not set it.
    public var connectedSeries: [Int] {
        var last = 0
        return seconds.map { second in
            last = second.connected ?? last
            return last
        }
    }

    public var json: JSONValue {
        let names = Set(seconds.flatMap(\.counts.keys)).sorted()
        var series = JSONObject()
        for name in names { series[name] = .array(self.series(name).map { .integer(Int64($0)) }) }
        var percentiles = JSONObject()
        for operation in timedOperations {
            var byPercentile = JSONObject()
            for (name, percentile) in [("p50", 50.0), ("p99", 99.0)] {
                byPercentile[name] = .array(percentileSeries(operation, percentile).map { $0.map(JSONValue.double) ?? .null })
            }
            percentiles[operation.rawValue] = .object(byPercentile)
        }
        return ["seconds": .integer(Int64(seconds.count)),
                "connected": .array(connectedSeries.map { .integer(Int64($0)) }), "counts": .object(series),
                "latencyMs": .object(percentiles)]
    }

    private mutating func grow(to second: Int) {
        if seconds.count <= second { seconds.append(contentsOf: repeatElement(Second(), count: second - seconds.count + 1)) }
    }
}
