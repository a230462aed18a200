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

    public init(scenario: String, target: String, startedAt: String, durationSeconds: Double, devices: Int,
                workers: Int, metrics: FleetMetrics, timeline: FleetTimeline) {
        self.scenario = scenario
        self.target = target
        self.startedAt = startedAt
        self.durationSeconds = durationSeconds
        self.devices = devices
        self.workers = workers
        self.metrics = metrics
        self.timeline = timeline
    }

    /// Acknowledged telemetry per second over the whole run.
    public var messagesPerSecond: Double {
        durationSeconds > 0 ? Double(metrics.operations[.d2cAck]?.succeeded ?? 0) / durationSeconds : 0
    }
}
