/// The run as Markdown: a summary, then one table row per operation with percentiles and failures by class.
public enum FleetMarkdownReport {
    public static func render(_ document: FleetRunDocument) -> String {
        var lines = [
            "# Fleet run: \(document.scenario)", "",
            "- target: \(document.target)",
            "- started: \(document.startedAt), \(format(document.durationSeconds)) s",
            "- devices: \(document.devices) over \(document.workers) worker process(es)",
            "- telemetry acknowledged: \(document.metrics.operations[.d2cAck]?.succeeded ?? 0) "
                + "(\(format(document.messagesPerSecond)) msg/s)",
            "",
            "| operation | count | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | failed | throttled |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for operation in document.metrics.operations.keys.sorted() {
            guard let metrics = document.metrics.operations[operation] else { continue }
            let latency = metrics.latency
            let cells = [latency.milliseconds(atPercentile: 50), latency.milliseconds(atPercentile: 90),
                         latency.milliseconds(atPercentile: 99), latency.milliseconds(atPercentile: 99.9),
                         latency.maxMilliseconds].map(format)
            lines.append("| \(operation.rawValue) | \(metrics.succeeded) | " + cells.joined(separator: " | ")
                         + " | \(metrics.errors) | \(metrics.failures[.throttled] ?? 0) |")
        }
        let failures = document.metrics.operations.flatMap { operation, metrics in
            metrics.failures.map { (operation, $0.key, $0.value) }
        }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
        if !failures.isEmpty {
            lines += ["", "Failures by class:", ""]
            for (operation, errorClass, count) in failures { lines.append("- \(operation.rawValue): \(count) \(errorClass.rawValue)") }
        }
        let problems = FleetRunChecks.problems(document)
        lines += ["", problems.isEmpty ? "Every count adds up." : "Counts that do not add up:"]
        for problem in problems { lines.append("- \(problem)") }
        let counters = document.metrics.counters
        if !counters.isEmpty {
            lines += ["", "Counts: " + counters.keys.sorted().map { "\($0) \(counters[$0] ?? 0)" }.joined(separator: ", ")]
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Two decimals at most.
    static func format(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let fraction = hundredths % 100
        return fraction == 0 ? "\(hundredths / 100)" : "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
