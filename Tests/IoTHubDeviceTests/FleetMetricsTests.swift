import FleetSimulation
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
