@testable import FleetSimulation
import Foundation
import IoTHubProtocol
import Testing

/// Scenario files: the documented examples parse to what they say, mistakes name their line and field, and the
/// payload generators behave.
struct ScenarioTests {
    private static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Simulator/scenarios")

    private func example(_ name: String) throws -> Scenario {
        let text = try String(contentsOf: Self.examples.appendingPathComponent(name), encoding: .utf8)
        return try ScenarioParser.parse(text, file: name)
    }

    @Test func theMixedExampleSaysWhatItsCommentsSay() throws {
        let scenario = try example("mixed.yaml")
        #expect(scenario.name == "mixed" && scenario.duration == .seconds(60) && scenario.deviceCount == 10_000)
        let thermostats = scenario.groups[0]
        #expect(thermostats.ids.id(7) == "thermo-00007" && thermostats.engine == .nativeMQTT)
        #expect(thermostats.security == .tls && thermostats.authentication == .sas)
        let telemetry = try #require(thermostats.telemetry)
        #expect(telemetry.interval == .seconds(10) && telemetry.jitter == .seconds(2) && telemetry.size == 256)
        #expect(telemetry.properties == ["schema": "thermostat-v1"])
        #expect(telemetry.payload.fields.map(\.name) == ["temperature", "humidity", "mode", "sequence", "sentAt", "site"])
        #expect(telemetry.payload.fields[0].generator == .randomWalk(start: 21, step: 0.2, min: 15, max: 30))
        #expect(telemetry.payload.fields[1].generator == .sine(mean: 45, amplitude: 10, period: .seconds(300)))
        #expect(telemetry.payload.fields[2].generator == .enumeration(["heat", "cool", "off"]))
        #expect(telemetry.payload.fields[3].generator == .counter(start: 1, step: 1))
        #expect(telemetry.payload.fields[4].generator == .timestamp)
        #expect(telemetry.payload.fields[5].generator == .constant("plant-7"))
        #expect(thermostats.twin.reportOnConnect == ["firmware": "1.4.2", "serial": true] && thermostats.twin.echoDesired)
        #expect(thermostats.methods == [MethodBehaviour(name: "reboot", status: 200, delay: .milliseconds(50),
                                                         payload: ["rebooted": true])])
        #expect(thermostats.lifecycle.connectRate == 1000)

        let trackers = scenario.groups[1]
        #expect(trackers.ids.id(12) == "tracker-12" && trackers.engine == .nativeAMQP)
        #expect(trackers.cloudToDevice == CloudToDeviceBehaviour(complete: 0.9, reject: 0.05, abandon: 0.05))
        #expect(trackers.lifecycle.churnPerMinute == 0.02)
        #expect(trackers.lifecycle.reconnectStorms == [.init(at: .seconds(40), fraction: 0.5)])

        let service = scenario.service
        #expect(service.readTelemetry)
        #expect(service.methods == [.init(name: "reboot", rate: 5, payload: .null, timeout: .seconds(10))])
        #expect(service.desired?.rate == 2 && service.cloudToDevice == .init(rate: 10, size: 64))
    }

    @Test func everyExampleParses() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.examples.path).filter { $0.hasSuffix(".yaml") }
        #expect(names.count >= 3)
        for name in names { _ = try example(name) }
        let meters = try example("duty-cycle.yaml").groups[0]
        #expect(meters.engine == .sdk && meters.sdkProtocol == "amqp")
        #expect(meters.lifecycle.dutyCycle == .init(connected: .seconds(20), sleep: .seconds(40)))
    }

    /// Each mistake with the line, column and field the message must name.
    @Test(arguments: [
        ("duration: 60s\ngroups: []\n", 2, "groups", "needs at least one group"),
        ("duration: ten\ngroups: [{name: a, count: 1, ids: \"a-{index}\"}]\n", 1, "duration", "expected a duration"),
        ("duration: 1s\ngroups:\n  - name: a\n    count: 1\n    ids: \"a-{index}\"\n    telemetry:\n      intervall: 5s\n",
         7, "groups[0].telemetry.intervall", "unknown field"),
        ("duration: 1s\ngroups:\n  - name: a\n    count: 0\n    ids: \"a-{index}\"\n", 4, "groups[0].count", "out of range"),
        ("duration: 1s\ngroups:\n  - name: a\n    count: 5\n    ids: \"a-fixed\"\n", 5, "groups[0].ids", "placeholder"),
        ("duration: 1s\ngroups:\n  - name: a\n    count: 5\n", 3, "groups[0]", "missing the required field 'ids'"),
        ("duration: 1s\ngroups:\n  - {name: a, count: 5, ids: \"a-{index}\", engine: mosquitto}\n", 3,
         "groups[0].engine", "expected one of native-mqtt, native-amqp, sdk"),
        ("duration: 1s\ngroups:\n  - name: a\n    count: 5\n    ids: \"a-{index}\"\n    c2d: {complete: 50%, reject: 10%}\n",
         6, "groups[0].c2d", "add up to 100%"),
        ("duration: 1s\ngroups:\n  - name: a\n    count: 5\n    ids: \"a-{index}\"\n    telemetry:\n      interval: 1s\n"
         + "      payload:\n        t: {randomWalk: {step: 1, min: 10, max: 5}}\n", 9, "groups[0].telemetry.payload.t.randomWalk.max",
         "must not be below min"),
        ("duration: 1s\nservice:\n  c2d: {rate: fast}\ngroups: [{name: a, count: 1, ids: \"a-{index}\"}]\n", 3,
         "service.c2d.rate", "expected a rate"),
        ("duration: 1s\ngroups: [{name: a, count: 1, ids: \"a-{index}\"}, {name: a, count: 1, ids: \"b-{index}\"}]\n", 2,
         "groups[1]", "two groups are named 'a'"),
        ("duration: 1s\ngroups:\n  - name: [unclosed\n", 4, "", "not valid YAML"),
    ])
    func mistakesNameTheirLineAndField(yaml: String, line: Int, field: String, message: String) {
        do {
            _ = try ScenarioParser.parse(yaml, file: "bad.yaml")
            Issue.record("parsed: \(yaml)")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.field == field, "\(error)")
            #expect(error.message.contains(message), "\(error)")
            #expect(error.description.hasPrefix("bad.yaml:\(line):"), "\(error)")
        }
    }

    @Test func generatorsStayInRangeAndRepeatForASeed() throws {
        let template = try ScenarioParser.parse("""
            duration: 1s
            groups:
              - name: g
                count: 1
                ids: "g-{index}"
                telemetry:
                  interval: 1s
                  payload:
                    walk: {randomWalk: {start: 20, step: 1, min: 19, max: 21}}
                    wave: {sine: {mean: 10, amplitude: 2, period: 4s}}
                    level: {uniform: {min: 5, max: 6}}
                    mode: {enum: [a, b]}
                    n: {counter: {start: 10, step: 5}}
                    at: {timestamp: {}}
            """).groups[0].telemetry!.payload
        var first = PayloadRenderer(template: template, seed: 42)
        var second = PayloadRenderer(template: template, seed: 42)
        let now = Timestamp(secondsSince1970: 1_700_000_000)
        var modes = Set<String>()
        for tick in 0..<200 {
            let elapsed = Duration.seconds(tick)
            let body = first.render(elapsed: elapsed, now: now)
            #expect(body == second.render(elapsed: elapsed, now: now), "the same seed gives the same values")
            let walk = try #require(body["walk"]?.doubleValue)
            #expect((19...21).contains(walk))
            let level = try #require(body["level"]?.doubleValue)
            #expect((5...6).contains(level))
            #expect(body["n"] == .integer(Int64(10 + 5 * tick)))
            modes.insert(try #require(body["mode"]?.stringValue))
            let wave = try #require(body["wave"]?.doubleValue)
            let expected = [10.0, 12, 10, 8][tick % 4]
            #expect(abs(wave - expected) < 0.001, "sine at \(tick) s: \(wave)")
            #expect(body["at"] == .string("2023-11-14T22:13:20.0000000Z"))
        }
        #expect(modes == ["a", "b"])
        var other = PayloadRenderer(template: template, seed: 43)
        #expect(other.render(elapsed: .seconds(1), now: now)["level"] != PayloadRenderer(template: template, seed: 42)
            .rendered(elapsed: .seconds(1), now: now)["level"])
    }

    @Test func bodiesArePaddedToTheirSize() {
        let template = PayloadTemplate(fields: [.init(name: "v", generator: .constant(1))])
        var renderer = PayloadRenderer(template: template, seed: 1)
        for size in [17, 64, 256, 4096] {   // 17: {"v":1} plus the smallest pad field
            #expect(renderer.bytes(elapsed: .zero, now: Timestamp(secondsSince1970: 0), size: size).count == size)
        }
        #expect(renderer.bytes(elapsed: .zero, now: Timestamp(secondsSince1970: 0), size: 12) == Array(#"{"v":1}"#.utf8), "too small for a pad field: left as it is")
        var empty = PayloadRenderer(template: .empty, seed: 1)
        #expect(empty.bytes(elapsed: .zero, now: Timestamp(secondsSince1970: 0), size: 100).count == 100)
    }
}

extension PayloadRenderer {
    /// One render from a fresh copy (for comparing seeds).
    fileprivate func rendered(elapsed: Duration, now: Timestamp) -> JSONObject {
        var copy = self
        return copy.render(elapsed: elapsed, now: now)
    }
}
