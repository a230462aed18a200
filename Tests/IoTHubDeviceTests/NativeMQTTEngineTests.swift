import FleetSimulation
import IoTHubDevice
import IoTHubProtocol
import Testing
@testable import IoTHubServer

/// The native MQTT engine against the companion hub, over plain TCP and over TLS: every planned message is
/// acknowledged by the hub and stored, and the metrics count what happened.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct NativeMQTTEngineTests {
    @Test(arguments: [false, true])
    func everyMessageIsAcknowledgedAndStored(tls: Bool) async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        var devices: [(id: String, key: String)] = []
        for index in 0..<200 {
            let id = "native-\(tls ? "tls" : "plain")-\(index)"
            devices.append((id, try await hub.createDevice(id)))
        }
        var configuration = NativeMQTTEngine.Configuration(hostName: "localhost")
        configuration.port = tls ? hub.mqttsPort : hub.mqttPort
        configuration.tls = tls ? try DeviceTLSContext.shared(trust: .caFile(hub.caPath)) : nil
        configuration.messagesPerDevice = 5
        configuration.window = 2
        configuration.loops = 2
        configuration.deadline = .seconds(120)
        let result = try await NativeMQTTEngine.run(configuration, devices: devices)

        #expect(result.errors.isEmpty, "\(result.errors)")
        #expect(result.connected == 200 && result.sent == 1_000 && result.acknowledged == 1_000)
        #expect(result.metrics.operations[.connect]?.succeeded == 200)
        #expect(result.metrics.operations[.d2cAck]?.succeeded == 1_000)
        #expect(result.metrics.counters["d2c.sent"] == 1_000)
        #expect(result.timeline.series("d2c.acknowledged").reduce(0, +) == 1_000)
        let stored = try await hub.services.events.events(after: 0, deviceId: nil, limit: 2_000)
        #expect(stored.count == 1_000)
        #expect(Set(stored.map(\.identity.deviceId)).count == 200)
        #expect(result.report(messagesPerDevice: 5).isComplete)
        await hub.stop()
    }

    @Test func aWrongKeyIsCountedAsUnauthorizedAndTheRunEnds() async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        _ = try await hub.createDevice("native-wrong")
        var configuration = NativeMQTTEngine.Configuration(hostName: "localhost")
        configuration.port = hub.mqttPort
        configuration.maximumAttempts = 2
        configuration.deadline = .seconds(60)
        let result = try await NativeMQTTEngine.run(configuration, devices: [("native-wrong", SharedAccessKey.random().base64)])
        #expect(result.connected == 0 && result.acknowledged == 0)
        #expect(result.metrics.operations[.connect]?.failures[.unauthorized] == 2, "\(result.errors)")
        #expect(!result.report(messagesPerDevice: 10).isComplete)
        await hub.stop()
    }
}
