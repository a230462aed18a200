import IoTHubProtocol

/// Percentiles of a set of latencies, in milliseconds.
public struct LatencySummary: Sendable, Hashable {
    public var count: Int
    public var mean: Double
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var max: Double

    /// Exact percentiles (nearest rank) of `samples`.
    public init(_ samples: [Duration]) {
        let milliseconds = samples.map { Double($0.components.seconds) * 1000 + Double($0.components.attoseconds) / 1e15 }
            .sorted()
        count = milliseconds.count
        func rank(_ fraction: Double) -> Double {
            guard !milliseconds.isEmpty else { return 0 }
            let index = Int((fraction * Double(milliseconds.count)).rounded(.up)) - 1
            return milliseconds[Swift.min(Swift.max(index, 0), milliseconds.count - 1)]
        }
        mean = milliseconds.isEmpty ? 0 : milliseconds.reduce(0, +) / Double(milliseconds.count)
        p50 = rank(0.5)
        p90 = rank(0.9)
        p99 = rank(0.99)
        max = milliseconds.last ?? 0
    }

    var json: JSONValue {
        ["count": .integer(Int64(count)), "meanMs": .double(mean), "p50Ms": .double(p50), "p90Ms": .double(p90),
         "p99Ms": .double(p99), "maxMs": .double(max)]
    }

    var text: String {
        "p50 \(Self.format(p50)) ms, p90 \(Self.format(p90)) ms, p99 \(Self.format(p99)) ms, max \(Self.format(max)) ms"
    }

    static func format(_ value: Double) -> String {
        let hundredths = (value * 100).rounded()
        return "\(Int(hundredths) / 100).\(String(Int(hundredths) % 100).leftPadded(to: 2))"
    }
}

/// The outcome of a fleet run: what connected, what was acknowledged, how fast, and what failed.
public struct FleetReport: Sendable {
    public var devices: Int
    public var connected: Int
    public var connectLatency: LatencySummary
    public var connectDuration: Duration
    public var messagesPlanned: Int
    public var acknowledged: Int
    public var failed: Int
    public var sendLatency: LatencySummary
    public var sendDuration: Duration
    public var totalDuration: Duration
    /// Failure texts with how often each happened.
    public var errors: [String: Int]

    /// Acknowledged messages per second over the send phase.
    public var throughput: Double {
        let seconds = sendDuration.seconds
        return seconds > 0 ? Double(acknowledged) / seconds : 0
    }

    /// Whether every device connected and every message was acknowledged.
    public var isComplete: Bool { connected == devices && acknowledged == messagesPlanned }

    /// The report as a JSON document (for `--json`).
    public var json: JSONValue {
        var errorObject = JSONObject()
        for key in errors.keys.sorted() { errorObject[key] = .integer(Int64(errors[key] ?? 0)) }
        return [
            "devices": .integer(Int64(devices)), "connected": .integer(Int64(connected)),
            "connectLatency": connectLatency.json, "connectSeconds": .double(Self.seconds(connectDuration)),
            "messagesPlanned": .integer(Int64(messagesPlanned)), "acknowledged": .integer(Int64(acknowledged)),
            "failed": .integer(Int64(failed)), "sendLatency": sendLatency.json,
            "sendSeconds": .double(Self.seconds(sendDuration)), "messagesPerSecond": .double(throughput),
            "totalSeconds": .double(Self.seconds(totalDuration)), "errors": .object(errorObject),
            "complete": .bool(isComplete),
        ]
    }

    /// The report as text for a terminal.
    public var text: String {
        var lines = [
            "fleet report",
            "  devices       \(connected)/\(devices) connected in \(LatencySummary.format(Self.seconds(connectDuration))) s "
                + "(connect \(connectLatency.text))",
            "  telemetry     \(acknowledged)/\(messagesPlanned) acknowledged, \(failed) failed, "
                + "in \(LatencySummary.format(Self.seconds(sendDuration))) s = \(LatencySummary.format(throughput)) msg/s",
            "  send→PUBACK   \(sendLatency.text) (mean \(LatencySummary.format(sendLatency.mean)) ms)",
        ]
        if errors.isEmpty {
            lines.append("  errors        none")
        } else {
            lines.append("  errors")
            for (text, count) in errors.sorted(by: { $0.value > $1.value }).prefix(10) {
                lines.append("    \(count) × \(text)")
            }
        }
        lines.append(isComplete ? "  result        complete" : "  result        INCOMPLETE")
        return lines.joined(separator: "\n")
    }

    static func seconds(_ duration: Duration) -> Double {
        duration.seconds
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: Swift.max(0, width - count)) + self
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
