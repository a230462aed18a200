import FleetSimulation
import Foundation
import IoTHubDevice
import IoTHubProtocol
import IoTHubTestSupport
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

    /// The same scenario with the trackers on native AMQP (shared connections, one CBS token each), settling C2D
    /// by a mix of complete, reject and abandon, and with tokens short enough to be renewed in band during the run.
    @Test func everyCountAddsUpWithANativeAMQPGroup() async throws {
        // A hub, a fleet and the service side load the machine: not beside timing-sensitive tests.
        let lock = try await HeavyTestLock.acquire()
        defer { lock.release() }
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let yaml = Self.yaml
            .replacingOccurrences(of: "    ids: \"scenario-tracker-{index}\"\n", with: "    ids: \"scenario-amqp-{index}\"\n    engine: native-amqp\n")
            .replacingOccurrences(of: "c2d: {complete: 100%}", with: "c2d: {complete: 80%, reject: 10%, abandon: 10%}")
        let scenario = try ScenarioParser.parse(yaml)
        #expect(scenario.groups[1].engine == .nativeAMQP)
        let provisioner = try FleetSimulationTests.provisioner(hub)
        let keys = try await provisioner.provision(ScenarioRun.deviceIds(scenario))
        var transport = NativeMQTTEngine.Configuration(hostName: "localhost")
        transport.gatewayHostName = "127.0.0.1"
        transport.port = hub.mqttPort
        transport.loops = 2
        var amqp = transport
        amqp.port = hub.amqpPort
        amqp.loops = 1
        amqp.tokenLifetime = .seconds(10)
        var options = ScenarioRun.Options(transport: transport)
        options.amqpTransport = amqp
        let service = try ServiceClient(connectionString: provisioner.connectionString, endpoint: provisioner.endpoint,
                                        caFile: hub.caPath)
        let document = try await ScenarioRun(scenario: scenario, options: options, keys: keys, service: service).run()
        await service.shutdown()

        #expect(FleetRunChecks.problems(document).isEmpty, "\(FleetRunChecks.problems(document)) \(document.errors ?? [:])")
        let counter = document.counter
        #expect(counter("devices.connected") == 200)
        #expect(counter("d2c.acknowledged") == counter("d2c.sent") && counter("d2c.seen") == counter("d2c.sent"))
        let stored = try await hub.services.events.events(after: 0, deviceId: nil, limit: 10_000)
        #expect(stored.count == counter("d2c.acknowledged"))
        #expect(stored.filter { $0.identity.deviceId.hasPrefix("scenario-amqp-") }.count > 150, "the AMQP group's telemetry is stored")
        // Every C2D message was settled: completed or rejected once, or abandoned and delivered again.
        #expect(counter("c2d.sent") > 50)
        #expect(counter("c2d.completed") + counter("c2d.rejected") == counter("c2d.sent"))
        #expect(counter("c2d.received") == counter("c2d.sent") + counter("c2d.abandoned"))
        #expect(counter("c2d.rejected") > 0 && counter("c2d.abandoned") > 0)
        // 10 s tokens, renewed at four fifths of their life: every AMQP device renewed at least once.
        #expect(counter("token.renewed") >= 50)
        await hub.stop()
    }

    @Test func everyCountOfAMixedScenarioAddsUp() async throws {
        try await runMixedScenario(Self.yaml)
    }

    /// The same scenario on the `sdk` engine: the thermostats are `DeviceClient`s over MQTT (libmosquitto), the
    /// trackers `DeviceClient`s over AMQP (Qpid Proton), with the same counts required.
    @Test func everyCountAddsUpOnTheSDKEngine() async throws {
        let yaml = Self.yaml
            .replacingOccurrences(of: "    ids: \"scenario-thermo-{index:03}\"\n", with: "    ids: \"scenario-sdk-thermo-{index:03}\"\n    engine: sdk\n")
            .replacingOccurrences(of: "    ids: \"scenario-tracker-{index}\"\n", with: "    ids: \"scenario-sdk-tracker-{index}\"\n    engine: sdk\n    protocol: amqp\n")
        try await runMixedScenario(yaml) { scenario in
            #expect(scenario.groups.map(\.engine) == [.sdk, .sdk])
            #expect(scenario.groups.map(\.sdkProtocol) == ["mqtt", "amqp"])
        }
    }

    /// X.509 groups over TLS: CA-signed devices (the fleet's CA, derived from the seed, uploaded verified) on the
    /// native MQTT engine, on the native AMQP engine (a connection per X.509 device) and on the sdk engine over
    /// MQTT and over AMQP, each with telemetry, a twin report and a method.
    @Test func x509GroupsAuthenticateWithTheFleetsCertificateAuthority() async throws {
        let lock = try await HeavyTestLock.acquire()
        defer { lock.release() }
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        func group(_ name: String, _ engine: String) -> String {
            """
              - name: \(name)
                count: 20
                ids: "x509-\(name)-{index:02}"
                \(engine)
                auth: x509
                telemetry: {interval: 500ms, payload: {value: {uniform: {min: 0, max: 1}}}}
                twin: {reportOnConnect: {auth: x509}}
                methods: [{name: ping, status: 200}]
            """
        }
        let yaml = """
            name: x509
            duration: 4s
            groups:
            \(group("native", "engine: native-mqtt"))
            \(group("sdkmqtt", "engine: sdk"))
            \(group("sdkamqp", "engine: sdk\n    protocol: amqp"))
            \(group("amqp", "engine: native-amqp"))
            service:
              readTelemetry: true
              methods: [{name: ping, rate: 10/s, timeout: 10s}]
            """
        let scenario = try ScenarioParser.parse(yaml)
        let seed = SharedAccessKey.random()
        let authority = try FleetCertificateAuthority(seed: seed)
        var provisioner = try FleetSimulationTests.provisioner(hub)
        let ids = ScenarioRun.deviceIds(scenario)
        provisioner.certificateAuthorityDevices = Set(ids)
        let service = try ServiceClient(connectionString: provisioner.connectionString, endpoint: provisioner.endpoint,
                                        caFile: hub.caPath)
        try await service.uploadCertificateAuthority(authority)
        try await service.uploadCertificateAuthority(authority)   // again: already there and verified
        let keys = try await provisioner.provision(ids, seed: seed)
        var transport = NativeMQTTEngine.Configuration(hostName: "localhost")
        transport.gatewayHostName = "127.0.0.1"
        transport.port = hub.mqttsPort
        transport.tls = try DeviceTLSContext.shared(trust: .caFile(hub.caPath))
        var amqp = transport
        amqp.port = hub.amqpsPort
        var options = ScenarioRun.Options(transport: transport)
        options.amqpTransport = amqp
        options.certificateAuthority = authority
        let document = try await ScenarioRun(scenario: scenario, options: options, keys: keys, service: service).run()

        #expect(FleetRunChecks.problems(document).isEmpty, "\(FleetRunChecks.problems(document)) \(document.errors ?? [:])")
        let counter = document.counter
        #expect(counter("devices.connected") == 80)
        #expect(counter("d2c.sent") > 60 && counter("d2c.acknowledged") == counter("d2c.sent"))
        #expect(counter("d2c.seen") == counter("d2c.sent"))
        #expect(counter("twin.answered") == 80)
        #expect(counter("method.called") > 10 && counter("method.succeeded") == counter("method.called"))
        let stored = try await hub.services.events.events(after: 0, deviceId: nil, limit: 10_000)
        #expect(stored.count == counter("d2c.acknowledged"))
        #expect(stored.allSatisfy { $0.message.systemProperties.connectionAuthMethod?.contains("x509CA") == true })
        for name in ["native", "sdkmqtt", "sdkamqp", "amqp"] {
            #expect(stored.contains { $0.identity.deviceId.hasPrefix("x509-\(name)-") }, "\(name) sent telemetry")
        }

        // Certificates from a CA the hub does not know are refused.
        var stranger = options
        stranger.certificateAuthority = try FleetCertificateAuthority(seed: .random())
        var short = try ScenarioParser.parse(yaml)
        short.groups = [short.groups[0]]
        short.groups[0].count = 2
        short.duration = .seconds(1)
        short.service = .idle
        let rejected = try await ScenarioRun(scenario: short, options: stranger, keys: keys, service: nil).run()
        #expect(rejected.counter("devices.connected") == 0)
        #expect(rejected.metrics.operations[.connect]?.failures.isEmpty == false)

        await service.shutdown()
        await hub.stop()
    }

    private func runMixedScenario(_ yaml: String, check: (Scenario) -> Void = { _ in }) async throws {
        // A hub, a fleet and the service side load the machine: not beside timing-sensitive tests.
        let lock = try await HeavyTestLock.acquire()
        defer { lock.release() }
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let scenario = try ScenarioParser.parse(yaml)
        check(scenario)
        let provisioner = try FleetSimulationTests.provisioner(hub)
        let keys = try await provisioner.provision(ScenarioRun.deviceIds(scenario))
        var transport = NativeMQTTEngine.Configuration(hostName: "localhost")
        transport.gatewayHostName = "127.0.0.1"
        transport.port = hub.mqttPort
        transport.loops = 2
        var amqp = transport
        amqp.port = hub.amqpPort
        var options = ScenarioRun.Options(transport: transport)
        options.amqpTransport = amqp
        let service = try ServiceClient(connectionString: provisioner.connectionString, endpoint: provisioner.endpoint,
                                        caFile: hub.caPath)
        let document = try await ScenarioRun(scenario: scenario, options: options, keys: keys, service: service).run()
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

/// `fleetsim run --scenario` as a coordinator of 3 worker processes (100 devices each): one merged report whose
/// counts are the sums of the workers' and add up against the hub's store.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct FleetWorkerTests {
    @Test func threeWorkersMergeIntoOneReportOfTheirSums() async throws {
        // A hub, a fleet and the service side load the machine: not beside timing-sensitive tests.
        let lock = try await HeavyTestLock.acquire()
        defer { lock.release() }
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-workers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let scenarioPath = directory.appendingPathComponent("scenario.yaml").path
        let yaml = ScenarioRunTests.yaml.replacingOccurrences(of: "duration: 10s", with: "duration: 6s")
            .replacingOccurrences(of: "count: 150", with: "count: 250")
        try yaml.write(toFile: scenarioPath, atomically: true, encoding: .utf8)
        let policy = try #require(hub.server.data.policies.first { $0.name == "iothubowner" })
        let output = directory.appendingPathComponent("report").path

        let process = Process()
        process.executableURL = try SampleBinaries.path("fleetsim")
        process.arguments = ["run", "--scenario", scenarioPath, "--devices-per-worker", "100", "--quiet",
                             "--connection-string", policy.connectionString(hostName: "localhost").description,
                             "--endpoint", "https://localhost:\(hub.httpsPort)", "--ca-file", hub.caPath,
                             "--gateway", "127.0.0.1", "--plain-mqtt-port", String(hub.mqttPort), "--output", output]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        // Waiting blocks a thread: a Dispatch one, not one of the cooperative pool the in-process hub needs.
        let (status, text) = await withCheckedContinuation { (continuation: CheckedContinuation<(Int32, String), Never>) in
            DispatchQueue.global().async {
                let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                continuation.resume(returning: (process.terminationStatus, text))
            }
        }
        #expect(status == 0, "\(text)")
        #expect(text.contains("3 worker processes"), "\(text)")

        let merged = try FleetRunFiles.read(output + "/run.json")
        let parts = try (0..<3).map { try FleetRunFiles.read(output + "/workers/worker-\($0).json") }
        #expect(merged.workers == 3 && merged.devices == 300 && parts.map(\.devices) == [100, 100, 100])
        for name in ["d2c.sent", "d2c.acknowledged", "d2c.seen", "method.called", "method.succeeded", "c2d.sent",
                     "c2d.received", "twin.answered", "devices.connected"] {
            #expect(merged.counter(name) == parts.reduce(0) { $0 + $1.counter(name) }, "\(name)")
        }
        for operation in FleetOperation.allCases {
            #expect(merged.metrics.operations[operation]?.succeeded ?? 0
                    == parts.reduce(0) { $0 + ($1.metrics.operations[operation]?.succeeded ?? 0) }, "\(operation)")
        }
        #expect(FleetRunChecks.problems(merged).isEmpty, "\(FleetRunChecks.problems(merged))")
        #expect(merged.counter("devices.connected") == 300 && merged.counter("c2d.sent") > 0 && merged.counter("method.called") > 0)
        let stored = try await hub.services.events.events(after: 0, deviceId: nil, limit: 10_000)
        #expect(stored.count == merged.counter("d2c.acknowledged"))
        await hub.stop()
    }
}

/// How fleets split over shards and workers.
@Suite struct FleetSlicesTests {
    @Test func slicesCoverTheFleetOnceWithSizesWithinOne() {
        let slices = FleetSlices.split(0..<10, into: 3)
        #expect(slices == [0..<4, 4..<7, 7..<10])
        #expect(FleetSlices.split(5..<7, into: 4) == [5..<6, 6..<7, 7..<7, 7..<7])
        #expect(FleetSlices.workers(devices: 45_001, perProcess: 15_000) == 4)
        #expect(FleetSlices.workers(devices: 10, perProcess: 15_000) == 1)
        #expect(FleetSlices.shard("2/5")! == (2, 5))
        #expect(FleetSlices.shard("5/5") == nil && FleetSlices.shard("x/2") == nil && FleetSlices.shard("1") == nil)
    }
}
