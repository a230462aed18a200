/// The run as one self-contained HTML file (inline CSS and SVG, no scripts, nothing fetched): a summary, charts of
/// connections, throughput and errors over time, a latency table, and a latency distribution per operation.
public enum FleetHTMLReport {
    private static let colors = ["#2b6cb0", "#c05621", "#2f855a", "#9b2c2c", "#6b46c1", "#d53f8c", "#2c7a7b"]

    public static func render(_ document: FleetRunDocument) -> String {
        let escape = SVGChart.escape
        let timeline = document.timeline
        var body = "<h1>Fleet run: \(escape(document.scenario))</h1>"
        body += "<p class=\"meta\">\(escape(document.target)) · started \(escape(document.startedAt)) · "
            + "\(SVGChart.format(document.durationSeconds)) s · \(document.devices) devices · "
            + "\(document.workers) worker(s) · \(SVGChart.format(document.messagesPerSecond)) msg/s acknowledged</p>"

        body += "<section><h2>Connections</h2>"
        body += SVGChart.lines([.init(name: "connected devices", values: timeline.connectedSeries.map(Double.init),
                                      color: colors[0])], title: "connected devices over time", unit: "")
        body += "</section><section><h2>Throughput</h2>"
        let throughput = ["d2c.sent", "d2c.acknowledged", "d2c.seen", "c2d.received", "method.answered", "twin.answered"].enumerated()
            .compactMap { index, name -> SVGChart.Series? in
                let values = timeline.series(name)
                return values.contains { $0 > 0 } ? .init(name: "\(name)/s", values: values.map(Double.init), color: colors[index]) : nil
            }
        body += SVGChart.lines(throughput.isEmpty ? [.init(name: "d2c.acknowledged/s", values: [], color: colors[1])] : throughput,
                               title: "events per second", unit: "")
        body += "</section><section><h2>Latency over time</h2>"
        let timed = timeline.timedOperations
        for (name, percentile) in [("p50", 50.0), ("p99", 99.0)] {
            let series = timed.enumerated().map { index, operation in
                SVGChart.Series(name: operation.rawValue, points: timeline.percentileSeries(operation, percentile),
                                color: colors[index % colors.count])
            }
            body += "<figure><figcaption>\(name) per second</figcaption>"
            body += SVGChart.lines(series.isEmpty ? [.init(name: "no latencies", values: [], color: colors[0])] : series,
                                   title: "\(name) latency per second, ms", unit: "ms")
            body += "</figure>"
        }
        body += "</section><section><h2>Errors</h2>"
        body += SVGChart.lines([.init(name: "errors/s", values: timeline.series("errors").map(Double.init), color: colors[3]),
                                .init(name: "throttled/s", values: timeline.series("throttled").map(Double.init), color: colors[5])],
                               title: "errors and throttling per second", unit: "")
        body += "</section>"

        body += "<section><h2>Latency</h2><table><thead><tr><th>operation</th><th>count</th><th>p50 ms</th><th>p90 ms</th>"
            + "<th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>failed</th><th>throttled</th></tr></thead><tbody>"
        let operations = document.metrics.operations.keys.sorted()
        for operation in operations {
            guard let metrics = document.metrics.operations[operation] else { continue }
            let latency = metrics.latency
            let cells = [50, 90, 99, 99.9].map { latency.milliseconds(atPercentile: $0) } + [latency.maxMilliseconds]
            body += "<tr><td>\(operation.rawValue)</td><td>\(metrics.succeeded)</td>"
                + cells.map { "<td>\(SVGChart.format($0))</td>" }.joined()
                + "<td>\(metrics.errors)</td><td>\(metrics.failures[.throttled] ?? 0)</td></tr>"
        }
        body += "</tbody></table>"
        for (index, operation) in operations.enumerated() {
            guard let latency = document.metrics.operations[operation]?.latency, latency.count > 0 else { continue }
            body += "<figure><figcaption>\(operation.rawValue): latency distribution</figcaption>"
            body += SVGChart.bars(latency.buckets(), title: "\(operation.rawValue) latency distribution",
                                  color: colors[index % colors.count])
            body += "</figure>"
        }
        body += "</section>"
        let problems = FleetRunChecks.problems(document)
        body += "<section><h2>Counts</h2>"
        body += problems.isEmpty ? "<p class=\"ok\">Every count adds up.</p>"
            : "<ul class=\"problems\">" + problems.map { "<li>\(escape($0))</li>" }.joined() + "</ul>"
        body += "<table><tbody>" + document.metrics.counters.keys.sorted().map { name in
            "<tr><td>\(escape(name))</td><td>\(document.metrics.counters[name] ?? 0)</td></tr>"
        }.joined() + "</tbody></table>"
        if let errors = document.errors, !errors.isEmpty {
            body += "<h3>Failures by reason</h3><table><tbody>" + errors.sorted { $0.value > $1.value }.prefix(30).map {
                "<tr><td>\(escape($0.key))</td><td>\($0.value)</td></tr>"
            }.joined() + "</tbody></table>"
        }
        body += "</section>"
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Fleet run: \(escape(document.scenario))</title>
            <style>
            body { font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 720px; color: #1a202c; }
            h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; } .meta { color: #4a5568; }
            svg { width: 100%; height: auto; background: #fff; border: 1px solid #e2e8f0; }
            .axis { stroke: #4a5568; } .grid { stroke: #edf2f7; } .tick { font-size: 10px; fill: #4a5568; }
            .legend { font-size: 11px; } table { border-collapse: collapse; width: 100%; }
            th, td { border-bottom: 1px solid #e2e8f0; padding: 4px 6px; text-align: right; }
            th:first-child, td:first-child { text-align: left; } figure { margin: 16px 0; }
            figcaption { font-weight: 600; margin-bottom: 4px; } .ok { color: #2f855a; } .problems { color: #9b2c2c; }
            </style></head><body>
            \(body)
            </body></html>

            """
    }
}
