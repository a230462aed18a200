import IoTHubProtocol

/// A finished run as `fleetsim` writes it (`--json`) and `fleetsim report` reads it back: what ran, where, and
/// every figure (merged metrics and the per-second timeline). The Markdown and HTML reports are rendered from
/// this alone, so a report can be made again later or on another machine.
public struct FleetRunDocument: Sendable, Codable, Equatable {
    public static let currentFormat = 1

    public var format: Int = FleetRunDocument.currentFormat
    public var scenario: String
    public var target: String
    /// Wall-clock start, ISO 8601.
    public var startedAt: String
    public var durationSeconds: Double
    public var devices: Int
    public var workers: Int
    public var metrics: FleetMetrics
    public var timeline: FleetTimeline
    /// Failure reasons as the devices saw them, with counts (for the report's error table).
    public var errors: [String: Int]?
    /// Seconds from the start until every device had tried its first connect.
    public var rampSeconds: Double?

    public init(scenario: String, target: String, startedAt: String, durationSeconds: Double, devices: Int,
                workers: Int, metrics: FleetMetrics, timeline: FleetTimeline, errors: [String: Int]? = nil) {
        self.errors = errors
        self.scenario = scenario
        self.target = target
        self.startedAt = startedAt
        self.durationSeconds = durationSeconds
        self.devices = devices
        self.workers = workers
        self.metrics = metrics
        self.timeline = timeline
    }

    /// Adds another worker's or shard's document of the same run: figures merge, devices and workers add up, and
    /// the run lasted as long as the longest part.
    public mutating func merge(_ other: FleetRunDocument) {
        devices += other.devices
        workers += other.workers
        durationSeconds = max(durationSeconds, other.durationSeconds)
        if let theirs = other.rampSeconds { rampSeconds = max(rampSeconds ?? 0, theirs) }
        startedAt = min(startedAt, other.startedAt)
        metrics.merge(other.metrics)
        timeline.merge(other.timeline)
        if let theirs = other.errors { errors = (errors ?? [:]).merging(theirs, uniquingKeysWith: +) }
    }

    /// The named counter (0 when absent).
    public func counter(_ name: String) -> Int { metrics.counters[name] ?? 0 }

    /// Acknowledged telemetry per second over the whole run.
    public var messagesPerSecond: Double {
        durationSeconds > 0 ? Double(metrics.operations[.d2cAck]?.succeeded ?? 0) / durationSeconds : 0
    }
}
