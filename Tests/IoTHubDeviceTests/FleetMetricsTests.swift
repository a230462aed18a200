@testable import FleetSimulation
import Foundation
import IoTHubProtocol
import Testing

/// Mergeable fleet metrics: HdrHistogram percentiles, merging across workers (in any order, through JSON as
/// workers send it), failures by class and counters.
struct FleetMetricsTests {
    /// 1 ms … 10 s in a skewed spread, as latencies come.
    private static let samples: [Duration] = (1...20_000).map { index in
        .microseconds(Int64(1_000 + (index * index) % 10_000_000))
    }

    private static func exactMilliseconds(_ percentile: Double) -> Double {
        let sorted = samples.map { Double($0.components.seconds) * 1000 + Double($0.components.attoseconds) / 1e15 }.sorted()
        return sorted[Int((percentile / 100 * Double(sorted.count)).rounded(.up)) - 1]
    }

    @Test func percentilesAreWithinTheHistogramsPrecision() {
        var histogram = LatencyHistogram()
        for sample in Self.samples { histogram.record(sample) }
        #expect(histogram.count == Self.samples.count)
        for percentile in [50.0, 90, 99, 99.9] {
            let exact = Self.exactMilliseconds(percentile)
            let measured = histogram.milliseconds(atPercentile: percentile)
            #expect(abs(measured - exact) / exact < 0.002, "p\(percentile): \(measured) vs \(exact)")
        }
        #expect(histogram.maxMilliseconds >= 9_990)
    }

    @Test func workersMergeIntoTheSameFiguresInAnyOrder() throws {
        var single = FleetMetrics()
        var workers = [FleetMetrics(), FleetMetrics(), FleetMetrics()]
        var generator = SystemRandomNumberGenerator()
        for sample in Self.samples {
            single.record(.d2cAck, latency: sample)
            workers[Int.random(in: 0..<3, using: &generator)].record(.d2cAck, latency: sample)
        }
        for (index, errorClass) in [FleetErrorClass.throttled, .timeout, .throttled, .network].enumerated() {
            single.fail(.twin, errorClass)
            workers[index % 3].fail(.twin, errorClass)
        }
        single.count("messages.sent", by: 30)
        for index in 0..<3 { workers[index].count("messages.sent", by: 10) }

        // Workers send their metrics as JSON; the coordinator decodes and merges them.
        let decoded = try workers.map { try JSONDecoder().decode(FleetMetrics.self, from: JSONEncoder().encode($0)) }
        let merged = FleetMetrics.merged(decoded)
        #expect(merged == single)
        var otherOrder = workers[2]
        otherOrder.merge(FleetMetrics.merged([workers[1], workers[0]]))
        #expect(otherOrder == single)

        let twin = try #require(merged.operations[.twin])
        #expect(twin.failed == 4 && twin.errors == 2 && twin.failures[.throttled] == 2)
        #expect(merged.counters["messages.sent"] == 30)
        let p99 = merged.operations[.d2cAck]?.latency.milliseconds(atPercentile: 99)
        #expect(p99 == single.operations[.d2cAck]?.latency.milliseconds(atPercentile: 99))
    }

    @Test func theReportJSONCarriesPercentilesFailuresAndTheDistribution() throws {
        var metrics = FleetMetrics()
        for milliseconds in 1...100 { metrics.record(.method, latency: .milliseconds(milliseconds)) }
        metrics.fail(.method, .refused)
        let json = metrics.json
        let method = try #require(json["operations"]?["method"])
        #expect(method["succeeded"] == 100 && method["failed"] == 1 && method["failures"]?["refused"] == 1)
        let p50 = try #require(method["latencyMs"]?["p50"]?.doubleValue)
        #expect(abs(p50 - 50) < 0.1)
        let buckets = try #require(method["distribution"]?.arrayValue)
        #expect(buckets.compactMap { $0["count"]?.doubleValue }.reduce(0, +) == 100)
        #expect(LatencySummary(metrics.operations[.method]!.latency).p99 == metrics.operations[.method]!.latency.milliseconds(atPercentile: 99))
    }
}

/// Per-second series and the compact form workers send.
struct FleetTimelineTests {
    @Test func workersTimelinesAddUpSecondBySecond() throws {
        var first = FleetTimeline(), second = FleetTimeline()
        first.connected(10, at: 0)
        first.count("d2c.acknowledged", at: 0, by: 5)
        first.count("d2c.acknowledged", at: 2, by: 7)
        second.connected(20, at: 1)
        second.count("d2c.acknowledged", at: 1, by: 3)
        second.count("throttled", at: 2)
        let decoded = try JSONDecoder().decode(FleetTimeline.self, from: JSONEncoder().encode(second))
        first.merge(decoded)
        #expect(first.series("d2c.acknowledged") == [5, 3, 7])
        #expect(first.series("throttled") == [0, 0, 1])
        #expect(first.connectedSeries == [10, 20, 20], "the gauge carries over a second that did not set it")
        #expect(first.json["counts"]?["throttled"] == [0, 0, 1])
    }

    @Test func aHistogramTravelsAsSparsePairs() throws {
        var histogram = LatencyHistogram()
        for milliseconds in [1, 1, 2, 500, 20_000] { histogram.record(.milliseconds(milliseconds)) }
        let data = try JSONEncoder().encode(histogram)
        #expect(data.count < 200, "\(data.count) bytes")
        let decoded = try JSONDecoder().decode(LatencyHistogram.self, from: data)
        #expect(decoded == histogram)
        // A bucket travels as its highest equivalent value: within the histogram's 0.1 % precision.
        #expect(abs(decoded.milliseconds(atPercentile: 100) - 20_000) / 20_000 < 0.001)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(LatencyHistogram.self, from: Data(#"{"values":[1,2],"counts":[1]}"#.utf8))
        }
    }
}

/// Compact per-second latencies (the timeline's) merge exactly as the full histograms do.
@Suite struct CompactLatencyTests {
    @Test func compactWindowsMergeLikeHistograms() {
        var a = LatencyHistogram(), b = LatencyHistogram(), both = LatencyHistogram()
        for ms in [1, 2, 3, 5, 8, 13, 21] {
            a.record(.milliseconds(ms))
            both.record(.milliseconds(ms))
        }
        for ms in [2, 3, 34, 55, 89] {
            b.record(.milliseconds(ms))
            both.record(.milliseconds(ms))
        }
        var merged = CompactLatency(a)
        merged.merge(CompactLatency(b))
        #expect(merged == CompactLatency(both))
        #expect(merged.count == 12)
        for percentile in [1.0, 25, 50, 90, 99, 100] {
            // The same bucket: equal within the histogram's 0.1 % (a bucket's top or bottom edge).
            let compact = merged.milliseconds(atPercentile: percentile), full = both.milliseconds(atPercentile: percentile)
            #expect(abs(compact - full) <= full * 0.001, "p\(percentile): \(compact) vs \(full)")
        }
        #expect(CompactLatency().milliseconds(atPercentile: 50) == 0)
    }

    @Test func timelinesMergeLatenciesSecondBySecond() {
        var first = FleetTimeline(), second = FleetTimeline()
        var h = LatencyHistogram()
        h.record(.milliseconds(10))
        first.latency(.twin, CompactLatency(h), at: 2)
        h.reset()
        h.record(.milliseconds(30))
        second.latency(.twin, CompactLatency(h), at: 2)
        second.latency(.twin, CompactLatency(h), at: 4)
        first.merge(second)
        let p100 = first.percentileSeries(.twin, 100)
        #expect(p100.count == 5 && p100[0] == nil && p100[3] == nil)
        #expect(p100[2].map { abs($0 - 30) < 0.1 } == true && p100[4].map { abs($0 - 30) < 0.1 } == true)
        #expect(first.percentileSeries(.twin, 50)[2].map { abs($0 - 10) < 0.1 } == true)
    }
}

/// The live display's lines.
@Suite struct LiveDisplayTests {
    @Test func linesShowConnectedRatesPercentilesAndErrors() {
        var previous = RunControl.Snapshot()
        previous.counters["d2c.acknowledged"] = 1_000
        var now = RunControl.Snapshot()
        now.connected = 9_812
        now.counters["d2c.acknowledged"] = 3_000
        now.failures = [.timeout: 3, .throttled: 7]
        var histogram = LatencyHistogram()
        histogram.record(.milliseconds(4))
        now.lastSecond[.d2cAck] = CompactLatency(histogram)
        let lines = LiveDisplay.lines(now, previous: previous, over: .seconds(2), elapsed: .seconds(12),
                                      devices: 10_000, phase: .running)
        #expect(lines[0] == "fleetsim 12s: 9,812/10,000 connected · d2c 1,000/s acked (3,000 total) · errors 3 · throttled 7")
        #expect(lines[1] == "  p50/p99 ms: d2c-ack 4/4")
    }
}
