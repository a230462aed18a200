import FleetSimulation
import Foundation
import IoTHubDevice
import IoTHubProtocol
import Testing
@testable import IoTHubServer

/// The fleet simulator's library against the companion hub: provisioning over REST, the run, and the report.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct FleetSimulationTests {
    @Test func fleetConnectsSendsAndReportsEveryAcknowledgement() async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let provisioner = try Self.provisioner(hub)
        var configuration = Self.configuration(hub, devices: 60, messages: 5)
        configuration.loops = 2
        configuration.connectConcurrency = 16
        configuration.deviceIdPrefix = "fleet-test-"
        let keys = try await provisioner.provision(configuration.deviceIds)
        #expect(keys.count == 60)
        // Provisioning again (createOrUpdate) is fine, with new keys.
        let again = try await provisioner.provision(configuration.deviceIds)
        let report = try await FleetRun.run(configuration, keys: again)
        #expect(report.isComplete, "\(report.text)")
        #expect(report.connected == 60 && report.acknowledged == 300 && report.failed == 0)
        #expect(report.sendLatency.count == 300 && report.sendLatency.p50 <= report.sendLatency.p99)
        #expect(report.errors.isEmpty)
        let stored = try await hub.services.events.events(after: 0, deviceId: nil, limit: 1000)
        #expect(stored.count == 300)
        #expect(Set(stored.map(\.identity.deviceId)) == Set(configuration.deviceIds))
        let json = report.json
        #expect(json["acknowledged"] == 300)
        #expect(json["complete"] == true)
        await hub.stop()
    }

    @Test func oldKeysAreRefusedAndReportedAsErrors() async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let provisioner = try Self.provisioner(hub)
        let configuration = Self.configuration(hub, devices: 5, messages: 2)
        let stale = try await provisioner.provision(configuration.deviceIds)
        _ = try await provisioner.provision(configuration.deviceIds)   // new keys: the first ones no longer work
        let report = try await FleetRun.run(configuration, keys: stale)
        #expect(!report.isComplete)
        #expect(report.connected == 0)
        #expect(report.errors.values.reduce(0, +) == 5)
        #expect(report.text.contains("INCOMPLETE"))
        await hub.stop()
    }

    @Test func provisioningWithoutRegistryWriteFailsClearly() async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let provisioner = try Self.provisioner(hub, policy: "service")
        await #expect(throws: FleetError.self) { _ = try await provisioner.provision(["x-1"]) }
        #expect(throws: FleetError.self) {
            _ = try FleetProvisioner(connectionString: "HostName=h;DeviceId=d;SharedAccessKey=a2V5", endpoint: nil, caFile: nil)
        }
        await hub.stop()
    }

    @Test func provisioningIsConcurrentIdempotentAndKeepsDevices() async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        var options = ProvisioningOptions()
        options.concurrency = 8
        options.seed = SharedAccessKey.random()
        let provisioner = try Self.provisioner(hub, options: options)
        let ids = (0..<2_000).map { "bulk-\($0)" }
        let first = await provisioner.run(ids, seed: try #require(options.seed))
        #expect(first.isComplete, "\(first.text)")
        #expect(first.provisioned == 2_000 && first.failed == 0 && first.requests == 20)
        let before = try await Self.registry(hub)
        #expect(before.count == 2_000)

        // Again, with the same seed (the options'): nothing fails, the keys are the same, the devices the same ones.
        let keys = try await provisioner.provision(ids)
        #expect(keys == FleetProvisioner.derivedKeys(for: ids, seed: try #require(options.seed)))
        let after = try await Self.registry(hub)
        #expect(after.count == 2_000)
        #expect(after.mapValues(\.key) == keys)
        #expect(after.mapValues(\.generationId) == before.mapValues(\.generationId))
        #expect(after.values.allSatisfy { $0.version == 2 })   // updated once, not re-created
        let counts = try await hub.services.store.deviceCounts()
        #expect(counts.total == 2_000 && counts.enabled == 2_000)
        await hub.stop()
    }

    /// Every device in the registry: its primary key, generation and version.
    static func registry(_ hub: LocalHub) async throws -> [String: (key: String, generationId: String, version: Int64)] {
        var devices: [String: (key: String, generationId: String, version: Int64)] = [:]
        var last: String?
        while true {
            let page = try await hub.services.registry.list(after: last, limit: 1000)
            for record in page {
                guard case .sas(let primary, _) = record.authentication else { continue }
                devices[record.identity.deviceId] = (primary.base64, record.generationId, record.version)
            }
            guard let next = page.last?.identity.deviceId, page.count == 1000 else { return devices }
            last = next
        }
    }

    /// A provisioner for the hub's REST API over HTTPS, signing with `policy`.
    static func provisioner(_ hub: LocalHub, policy: String = "iothubowner",
                            options: ProvisioningOptions = ProvisioningOptions()) throws -> FleetProvisioner {
        let match = try #require(hub.server.data.policies.first { $0.name == policy })
        return try FleetProvisioner(connectionString: match.connectionString(hostName: "localhost").description,
                                    endpoint: "https://localhost:\(hub.httpsPort)", caFile: hub.caPath, options: options)
    }

    /// A fleet over the hub's plain MQTT port.
    static func configuration(_ hub: LocalHub, devices: Int, messages: Int) -> FleetConfiguration {
        var configuration = FleetConfiguration(hostName: "localhost")
        configuration.gatewayHostName = "127.0.0.1"
        configuration.plainMQTTPort = hub.mqttPort
        configuration.devices = devices
        configuration.messagesPerDevice = messages
        return configuration
    }

    @Test func latencyPercentilesUseNearestRank() {
        let summary = LatencySummary((1...100).map { Duration.milliseconds($0) })
        #expect(summary.count == 100)
        #expect(summary.p50 == 50 && summary.p90 == 90 && summary.p99 == 99 && summary.max == 100)
        #expect(abs(summary.mean - 50.5) < 1e-9)
        #expect(LatencySummary([]).p99 == 0)
    }
}
