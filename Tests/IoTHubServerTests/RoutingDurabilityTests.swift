import Foundation
import IoTHubProtocol
import Logging
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// Crash safety of routed telemetry: with routes to a custom event stream, a storage endpoint and `events`,
/// kill -9 the hub during a telemetry stream; after a restart every message that got a PUBACK is in every endpoint
/// it matched (the storage endpoint's in its outbox, and in its blobs once written), and none is there twice.
@Suite("Durability: kill -9 during routed telemetry", .serialized, .timeLimit(.minutes(3)))
struct RoutingDurabilityTests {
    static let deviceId = "routed-durability"

    @Test("every acknowledged message is in every endpoint it matched after kill -9 and a restart")
    func acknowledgedRoutedTelemetrySurvivesKill() async throws {
        let directory = TestProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ports = try HubPorts.free()
        let dataDirectory = directory + "/data", logPath = directory + "/hub.log"
        var hub = try await HubProcess.start(dataDirectory: dataDirectory, ports: ports, logPath: logPath)
        defer { hub.stop() }
        let key = try hub.createDevice(Self.deviceId)
        for arguments in [
            ["endpoint", "add", "hot", "--partitions", "2"],
            ["endpoint", "add", "cold", "--type", "storage", "--container", "routed", "--encoding", "json", "--batch-frequency", "60"],
            ["route", "add", "toHot", "--condition", "true", "--endpoint-name", "hot"],
            ["route", "add", "toCold", "--condition", "$connectionDeviceId = '\(Self.deviceId)'", "--endpoint-name", "cold"],
            ["route", "add", "toEvents", "--condition", "seq >= '0'", "--endpoint-name", "events"],
        ] {
            let result = try hub.admin(arguments)
            #expect(result.status == 0, "iothub \(arguments.joined(separator: " ")): \(result.output)")
        }

        var acknowledged = Set<Int>()
        var sent = 0
        for round in 1...3 {
            if round > 1 { hub = try await HubProcess.start(dataDirectory: dataDirectory, ports: ports, logPath: logPath) }
            var stream = try TelemetryStream(port: ports.plainMQTT, deviceId: Self.deviceId, key: key, firstSequence: sent)
            let pid = hub.pid
            let delay = round == 1 ? 0 : UInt32.random(in: 1..<20_000)
            try stream.run(window: 64, acknowledgements: 300) {
                if delay == 0 {
                    kill(pid, SIGKILL)
                    return
                }
                Thread.detachNewThread {
                    usleep(delay)
                    kill(pid, SIGKILL)
                }
            }
            hub.kill()
            #expect(stream.acknowledged.count >= 300)
            acknowledged.formUnion(stream.acknowledged)
            sent = stream.nextSequence
        }
        // A last clean start and stop, then the store is read directly.
        hub = try await HubProcess.start(dataDirectory: dataDirectory, ports: ports, logPath: logPath)
        #expect(hub.stop(grace: .seconds(8)))

        let store = try SQLiteHubStore(path: dataDirectory + "/hub.sqlite", durability: .normal)
        defer { store.close() }
        let services = HubServices(hostName: "localhost", store: store, policies: [], logger: Logger(label: "test"))
        try await services.routing.refresh()
        func sequences(_ stream: String) async throws -> [Int] {
            let service = try #require(services.routing.eventStream(named: stream), "no stream \(stream)")
            var found: [Int] = []
            for partition in 0..<service.partitioner.count {
                var cursor: Int64 = -1
                while true {
                    let page = try await service.read(partition, after: cursor, limit: 1000)
                    guard let last = page.last else { break }
                    found += page.compactMap { $0.message.properties["seq"].flatMap { Int($0) } }
                    cursor = last.partitionSequenceNumber
                }
            }
            return found
        }
        let builtIn = try await sequences(services.eventHub.name)
        let hot = try await sequences("hot")
        let blobs = try BlobStorage(root: dataDirectory + "/blobs", maximumBytes: 1 << 30, syncs: false, logger: Logger(label: "test"))
        let writer = StorageEndpointWriter(routing: services.routing, store: store, blobs: blobs, logger: Logger(label: "test"))
        let written = try await writer.flush(force: true)
        var cold: [Int] = []
        for manifest in await blobs.list(container: "routed") {
            let reader = try await blobs.open(container: "routed", blob: manifest.name)
            let text = String(decoding: try reader.read(offset: 0, count: Int(manifest.size)), as: UTF8.self)
            for line in text.split(separator: "\n") {
                if let seq = (try? JSONValue(parsing: String(line)))?["Properties"]?["seq"]?.stringValue.flatMap({ Int($0) }) { cold.append(seq) }
            }
        }
        #expect(try await store.outboxSummary(endpoint: "cold") == nil, "the forced flush wrote the whole outbox")
        for (name, found) in [("events", builtIn), ("hot", hot), ("cold", cold)] {
            let missing = acknowledged.subtracting(found).sorted()
            #expect(missing.isEmpty, "\(missing.count) of \(acknowledged.count) acknowledged messages are missing from \(name): \(missing.prefix(20))\n\(hub.log.suffix(3000))")
            #expect(Set(found).count == found.count, "a message is in \(name) twice")
            #expect(Set(found).isSubset(of: 0..<sent), "\(name) holds a message never sent")
        }
        print("RoutingDurabilityTests: 3 kill -9 rounds; sent \(sent), acknowledged \(acknowledged.count); events \(builtIn.count), hot \(hot.count), cold \(cold.count) in \(written.count) blobs")
    }
}
