import FleetSimulation
import IoTHubDevice
import IoTHubProtocol
import Testing
@testable import IoTHubServer

/// A small mixed scenario (200 devices, 10 s) on the native MQTT engine against the companion hub, with the
/// service side calling methods, patching desired properties, sending C2D and reading the telemetry stream: every
/// count must add up (sent = acknowledged = seen at the service side, every method and twin round trip answered,
/// every C2D message received and completed).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ScenarioRunTests {
    static let yaml = """
        name: small-mixed
        duration: 10s
        groups:
          - name: thermostats
            count: 150
            ids: "scenario-thermo-{index:03}"
            security: plain
            telemetry:
              interval: 1s
              jitter: 200ms
              size: 200
              properties: {schema: thermostat-v1}
              payload:
                temperature: {randomWalk: {start: 21, step: 0.2, min: 15, max: 30}}
                sequence: {counter: {start: 1}}
            twin:
              reportOnConnect: {firmware: "1.4.2"}
              echoDesired: true
            methods:
              - {name: reboot, status: 200, delay: 20ms, payload: {rebooted: true}}
            lifecycle:
              connectRate: 300/s
          - name: trackers
            count: 50
            ids: "scenario-tracker-{index}"
            security: plain
            telemetry:
              interval: 2s
              payload:
                latitude: {uniform: {min: 47.5, max: 47.7}}
            c2d: {complete: 100%}
        service:
          readTelemetry: true
          methods:
            - {name: reboot, rate: 10/s, timeout: 10s}
          desired:
            rate: 5/s
            patch:
              setPoint: {uniform: {min: 18, max: 24}}
          c2d:
            rate: 10/s
            size: 64
        """

    @Test func everyCountOfAMixedScenarioAddsUp() async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let scenario = try ScenarioParser.parse(Self.yaml)
        let provisioner = try FleetSimulationTests.provisioner(hub)
        let keys = try await provisioner.provision(ScenarioRun.deviceIds(scenario))
        var transport = NativeMQTTEngine.Configuration(hostName: "localhost")
        transport.gatewayHostName = "127.0.0.1"
        transport.port = hub.mqttPort
        transport.loops = 2
        let service = try ServiceClient(connectionString: provisioner.connectionString, endpoint: provisioner.endpoint,
                                        caFile: hub.caPath)
        let document = try await ScenarioRun(scenario: scenario, options: .init(transport: transport), keys: keys,
                                             service: service).run()
        await service.shutdown()

        #expect(FleetRunChecks.problems(document).isEmpty, "\(FleetRunChecks.problems(document))")
        let counter = document.counter
        #expect(counter("devices.connected") == 200)
        // 150 devices × ~10 messages + 50 × ~5, give or take the ramp and jitter.
        #expect(counter("d2c.sent") > 1_200)
        #expect(counter("d2c.acknowledged") == counter("d2c.sent"))
        #expect(counter("d2c.seen") == counter("d2c.acknowledged"))
        #expect(document.metrics.operations[.d2cEndToEnd]?.succeeded == counter("d2c.seen"))
        let stored = try await hub.services.events.events(after: 0, deviceId: nil, limit: 10_000)
        #expect(stored.count == counter("d2c.acknowledged"))
        #expect(stored.filter { $0.message.properties["schema"] == "thermostat-v1" }.count > 1_000)

        // Methods: the service's calls, each answered by the device.
        #expect(counter("method.called") > 50)
        #expect(counter("method.succeeded") == counter("method.called"))
        #expect(counter("method.status.200") == counter("method.called"))
        #expect(counter("method.answered") == counter("method.called"))
        // Twins: a reported patch per thermostat on connect, and an echo per desired patch it saw.
        #expect(counter("twin.desired-patched") > 20)
        #expect(counter("twin.desired-received") == counter("twin.desired-patched"))
        #expect(document.metrics.operations[.desired]?.succeeded == counter("twin.desired-patched"))
        #expect(counter("twin.answered") == 150 + counter("twin.desired-received"))
        #expect(document.metrics.operations[.twin]?.failed ?? 0 == 0)
        // C2D: every message sent reached a tracker and was completed.
        #expect(counter("c2d.sent") > 50)
        #expect(counter("c2d.received") == counter("c2d.sent"))
        #expect(counter("c2d.completed") == counter("c2d.sent"))
        #expect(document.metrics.operations[.c2d]?.succeeded == counter("c2d.sent"))
        // The timeline has latencies per second.
        #expect(document.timeline.percentileSeries(.d2cAck, 99).compactMap { $0 }.count >= 8)
        await hub.stop()
    }
}
