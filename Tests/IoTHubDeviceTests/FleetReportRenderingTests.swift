@testable import FleetSimulation
import Foundation
import Testing

/// The report renderers: Markdown and self-contained HTML from a run document, and the document's JSON form.
struct FleetReportRenderingTests {
    static func document(name: String = "mixed") -> FleetRunDocument {
        var metrics = FleetMetrics()
        var timeline = FleetTimeline()
        for second in 0..<30 {
            timeline.connected(min(1000, (second + 1) * 100), at: second)
            timeline.count("d2c.acknowledged", at: second, by: 900 + second)
            if second == 12 { timeline.count("throttled", at: second, by: 4) }
        }
        for index in 1...2_000 { metrics.record(.d2cAck, latency: .microseconds(Int64(500 + index * 7))) }
        for index in 1...200 { metrics.record(.method, latency: .milliseconds(Int64(10 + index % 40))) }
        metrics.fail(.method, .timeout)
        metrics.fail(.d2cAck, .throttled)
        return FleetRunDocument(scenario: name, target: "hub.example (127.0.0.1)", startedAt: "2026-12-02T07:00:00Z",
                                durationSeconds: 30, devices: 1000, workers: 2, metrics: metrics, timeline: timeline)
    }

    @Test func theDocumentRoundTripsThroughJSON() throws {
        let document = Self.document()
        let decoded = try JSONDecoder().decode(FleetRunDocument.self, from: JSONEncoder().encode(document))
        #expect(decoded == document)
    }

    @Test func markdownHasARowPerOperationWithFailuresApart() {
        let markdown = FleetMarkdownReport.render(Self.document())
        #expect(markdown.hasPrefix("# Fleet run: mixed\n"))
        #expect(markdown.contains("| d2c-ack | 2000 |"))
        #expect(markdown.contains("| method | 200 |"))
        #expect(markdown.contains("| 1 | 0 |"), "method: one timeout, no throttling")
        #expect(markdown.contains("- d2c-ack: 1 throttled"))
    }

    @Test func htmlIsSelfContainedWithEveryChart() {
        let html = FleetHTMLReport.render(Self.document(name: "<script>alert(1)</script>"))
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        for external in ["<script", "src=", "href=", "url(", "@import"] {
            #expect(!html.contains(external), "\(external) would fetch or run something")
        }
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        // Connections, throughput, p50 and p99 over time, errors, and one distribution per operation.
        #expect(html.components(separatedBy: "<svg").count - 1 == 7)
        #expect(html.contains("p50 per second") && html.contains("p99 per second"))
        #expect(html.contains("d2c-ack: latency distribution") && html.contains("method: latency distribution"))
        #expect(html.contains("<td>d2c-ack</td><td>2000</td>"))
    }

    @Test func chartScalesAreRound() {
        #expect([0.5, 1, 7, 12, 99, 101, 4_999].map(SVGChart.niceCeiling) == [0.5, 1, 10, 20, 100, 200, 5_000])
    }
}

/// The HTML report in a real browser: Debian's chromium, headless, loads the file, lays it out (its DOM has every
/// chart) and takes a screenshot. `IOTHUB_REPORT_SCREENSHOT=PATH` keeps the screenshot for a person to look at.
struct FleetReportBrowserTests {
    @Test func chromiumRendersTheReport() async throws {
        let chromium = try #require(["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }, "chromium is missing: make test installs it (scripts/install-deps.sh)")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let page = directory.appendingPathComponent("report.html")
        try Data(FleetHTMLReport.render(FleetReportRenderingTests.document()).utf8).write(to: page)
        let common = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                      "--user-data-dir=\(directory.appendingPathComponent("profile").path)"]

        let dom = try await Self.run(chromium, common + ["--dump-dom", page.absoluteString], in: directory)
        #expect(dom.status == 0, "\(dom.error)")
        #expect(dom.output.components(separatedBy: "<svg").count - 1 == 7, "the browser's DOM has the seven charts (connections, throughput, p50 and p99 over time, errors, two distributions)")
        #expect(dom.output.contains("<td>d2c-ack</td><td>2000</td>"))

        let shot = directory.appendingPathComponent("report.png")
        let screenshot = try await Self.run(chromium, common + ["--window-size=800,2200", "--screenshot=\(shot.path)",
                                                              page.absoluteString], in: directory)
        #expect(screenshot.status == 0, "\(screenshot.error)")
        let png = try Data(contentsOf: shot)
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a PNG")
        #expect(png.count > 20_000, "a blank page compresses to a few KB; this one has charts and text (\(png.count) B)")
        if let keep = ProcessInfo.processInfo.environment["IOTHUB_REPORT_SCREENSHOT"], !keep.isEmpty {
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.copyItem(at: shot, to: URL(fileURLWithPath: keep))
        }
    }

    /// Runs `tool` with a 60 s limit, its output in files (a pipe could fill and stall it); returns its status,
    /// standard output and standard error.
    private static func run(_ tool: String, _ arguments: [String], in directory: URL) async throws
        -> (status: Int32, output: String, error: String)
    {
        let outputFile = directory.appendingPathComponent("stdout-\(UUID().uuidString)")
        let errorFile = directory.appendingPathComponent("stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: outputFile)
        process.standardError = try FileHandle(forWritingTo: errorFile)
        try process.run()
        let deadline = ContinuousClock.now + .seconds(60)
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return (process.terminationStatus, try String(contentsOf: outputFile, encoding: .utf8),
                try String(contentsOf: errorFile, encoding: .utf8))
    }
}
