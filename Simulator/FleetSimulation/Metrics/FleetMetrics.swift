import IoTHubProtocol

/// Everything one worker (or a merged run) measured: a latency histogram, successes and failures by class per
/// operation, and named counters. Workers send theirs to the coordinator as JSON (`Codable`); ``merge(_:)`` is
/// associative and commutative, so shards merge in any order into the same figures.
public struct FleetMetrics: Sendable, Codable, Equatable {
    public struct Operation: Sendable, Codable, Equatable {
        public var latency = LatencyHistogram()
        public var failures: [FleetErrorClass: Int] = [:]

        public init() {}

        public var succeeded: Int { latency.count }
        public var failed: Int { failures.values.reduce(0, +) }
        /// Failures other than throttling: what counts against the hub.
        public var errors: Int { failed - (failures[.throttled] ?? 0) }
    }

    public var operations: [FleetOperation: Operation] = [:]
    /// Named counts (devices planned, messages sent, ...): summed by ``merge(_:)``.
    public var counters: [String: Int] = [:]

    public init() {}

    /// One operation that succeeded after `latency`.
    public mutating func record(_ operation: FleetOperation, latency: Duration) {
        operations[operation, default: Operation()].latency.record(latency)
    }

    /// One operation that failed.
    public mutating func fail(_ operation: FleetOperation, _ errorClass: FleetErrorClass) {
        operations[operation, default: Operation()].failures[errorClass, default: 0] += 1
    }

    public mutating func count(_ name: String, by amount: Int = 1) {
        counters[name, default: 0] += amount
    }

    /// Adds `other`'s samples, failures and counters to these.
    public mutating func merge(_ other: FleetMetrics) {
        for (operation, theirs) in other.operations {
            var ours = operations[operation, default: Operation()]
            ours.latency.merge(theirs.latency)
            ours.failures.merge(theirs.failures, uniquingKeysWith: +)
            operations[operation] = ours
        }
        counters.merge(other.counters, uniquingKeysWith: +)
    }

    /// The merge of `parts`.
    public static func merged(_ parts: some Sequence<FleetMetrics>) -> FleetMetrics {
        parts.reduce(into: FleetMetrics()) { $0.merge($1) }
    }

    /// The figures as report JSON: per operation its count, percentiles and failures by class; the counters.
    public var json: JSONValue {
        var operationsObject = JSONObject()
        for operation in operations.keys.sorted() {
            guard let metrics = operations[operation] else { continue }
            let latency = metrics.latency
            var failures = JSONObject()
            for errorClass in metrics.failures.keys.sorted() {
                failures[errorClass.rawValue] = .integer(Int64(metrics.failures[errorClass] ?? 0))
            }
            operationsObject[operation.rawValue] = [
                "succeeded": .integer(Int64(metrics.succeeded)), "failed": .integer(Int64(metrics.failed)),
                "failures": .object(failures),
                "latencyMs": [
                    "min": .double(latency.minMilliseconds), "mean": .double(latency.meanMilliseconds),
                    "p50": .double(latency.milliseconds(atPercentile: 50)),
                    "p90": .double(latency.milliseconds(atPercentile: 90)),
                    "p99": .double(latency.milliseconds(atPercentile: 99)),
                    "p999": .double(latency.milliseconds(atPercentile: 99.9)), "max": .double(latency.maxMilliseconds),
                ],
                "distribution": .array(latency.buckets().map {
                    ["upToMs": .double($0.upperMilliseconds), "count": .integer(Int64($0.count))]
                }),
            ]
        }
        var countersObject = JSONObject()
        for name in counters.keys.sorted() { countersObject[name] = .integer(Int64(counters[name] ?? 0)) }
        return ["operations": .object(operationsObject), "counters": .object(countersObject)]
    }
}
