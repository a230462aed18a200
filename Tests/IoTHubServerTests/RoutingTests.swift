import Foundation
import IoTHubProtocol
import IoTHubTestSupport
import Logging
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// Message routing in the hub's core: every source, condition form and endpoint kind, the fallback on and off,
/// enrichments, the storage endpoint's batches, system events, configuration changes and bad conditions.
@Suite("message routing")
struct RoutingTests {
    /// A hub core on a fresh store, with a blob store for storage endpoints.
    final class Hub: Sendable {
        let directory = TestProcess.temporaryDirectory()
        let store: SQLiteHubStore
        let services: HubServices
        let blobs: BlobStorage
        let writer: StorageEndpointWriter

        init() throws {
            store = try SQLiteHubStore(path: directory + "/hub.sqlite", durability: .normal)
            services = HubServices(hostName: "routinghub.example.net", store: store, policies: [], logger: Logger(label: "test"))
            blobs = try BlobStorage(root: directory + "/blobs", maximumBytes: 1 << 30, syncs: false, logger: Logger(label: "test"))
            writer = StorageEndpointWriter(routing: services.routing, store: store, blobs: blobs, logger: Logger(label: "test"))
        }

        deinit {
            store.close()
            try? FileManager.default.removeItem(atPath: directory)
        }

        var routing: RoutingService { services.routing }

        func send(_ deviceId: String, _ body: String, properties: [String: String] = [:], json: Bool = false) async throws {
            var message = IoTHubMessage(text: body, properties: properties)
            if json {
                message.systemProperties.contentType = "application/json"
                message.systemProperties.contentEncoding = "utf-8"
            }
            _ = try await services.events.ingest(message, from: DeviceIdentity(deviceId: deviceId), authentication: .sas,
                                                 generationId: "1")
        }

        /// Bodies in an event stream's partitions, in log order.
        func bodies(_ stream: String) async throws -> [String] {
            let service = try #require(routing.eventStream(named: stream))
            var events: [StoredEvent] = []
            for partition in 0..<service.partitioner.count { events += try await service.read(partition, after: -1, limit: 1000) }
            return events.sorted { $0.sequenceNumber < $1.sequenceNumber }.map { String(decoding: $0.message.body, as: UTF8.self) }
        }

        func events(_ stream: String) async throws -> [StoredEvent] {
            let service = try #require(routing.eventStream(named: stream))
            var events: [StoredEvent] = []
            for partition in 0..<service.partitioner.count { events += try await service.read(partition, after: -1, limit: 1000) }
            return events.sorted { $0.sequenceNumber < $1.sequenceNumber }
        }

        func route(_ name: String, _ condition: String, to endpoint: String, source: RouteSource = .deviceMessages) async throws {
            let route = MessageRoute(name: name, source: source, condition: try RoutingQuery(parsing: condition), endpointName: endpoint)
            try await routing.change { try $0.put(route, replacing: false) }
        }

        func endpoint(_ name: String, partitions: Int = 2) async throws {
            try await routing.change { try $0.add(RoutingEndpoint(name: name, kind: .eventStream(partitionCount: partitions, stream: 0))) }
        }
    }

    @Test("with no route every message goes to events; a route takes what it matches and the fallback the rest")
    func fallbackOn() async throws {
        let hub = try Hub()
        #expect(hub.routing.isPassThrough)
        try await hub.send("d1", "plain")
        try await hub.endpoint("hot")
        try await hub.route("critical", "level = 'critical'", to: "hot")
        try await hub.send("d1", "alarm", properties: ["level": "critical"])
        try await hub.send("d2", "info", properties: ["level": "info"])
        #expect(try await hub.bodies("routinghub") == ["plain", "info"])
        #expect(try await hub.bodies("hot") == ["alarm"])
        // A custom stream is partitioned by device like the built-in one, with its own numbering from 0.
        let hot = try await hub.events("hot")
        #expect(hot.map(\.partitionSequenceNumber) == [0])
        #expect(hot[0].partition == EventHubPartitioner(count: 2).partition(for: "d1"))
        #expect(hot[0].message.systemProperties.connectionDeviceId == "d1")
    }

    @Test("with the fallback off, telemetry no route matches is dropped; a route to events keeps it")
    func fallbackOff() async throws {
        let hub = try Hub()
        try await hub.endpoint("hot")
        try await hub.route("critical", "level = 'critical'", to: "hot")
        try await hub.routing.change { $0.fallbackEnabled = false }
        try await hub.send("d1", "dropped", properties: ["level": "info"])
        try await hub.send("d1", "alarm", properties: ["level": "critical"])
        #expect(try await hub.bodies("routinghub").isEmpty)
        try await hub.route("everything", "true", to: "events")
        try await hub.send("d1", "both", properties: ["level": "critical"])
        #expect(try await hub.bodies("routinghub") == ["both"])
        #expect(try await hub.bodies("hot") == ["alarm", "both"])
    }

    @Test("two routes to one endpoint deliver a message once; a disabled route takes nothing")
    func duplicatesAndDisabled() async throws {
        let hub = try Hub()
        try await hub.endpoint("hot")
        try await hub.route("a", "true", to: "hot")
        try await hub.route("b", "level = 'x'", to: "hot")
        try await hub.send("d1", "one", properties: ["level": "x"])
        #expect(try await hub.bodies("hot") == ["one"])
        try await hub.routing.change { configuration in
            for index in configuration.routes.indices { configuration.routes[index].isEnabled = false }
        }
        try await hub.send("d1", "two", properties: ["level": "x"])
        #expect(try await hub.bodies("hot") == ["one"])
        #expect(try await hub.bodies("routinghub") == ["two"], "with every route disabled, the fallback takes it")
    }

    @Test("$body conditions see JSON bodies with a UTF encoding only; system properties and IN work")
    func bodyConditions() async throws {
        let hub = try Hub()
        try await hub.endpoint("hot")
        try await hub.route("hotBody", "$body.temperature > 50 AND $connectionDeviceId IN ['d1', 'd2']", to: "hot")
        try await hub.send("d1", #"{"temperature":70}"#, json: true)
        try await hub.send("d1", #"{"temperature":70}"#)  // no content type: $body is undefined
        try await hub.send("d1", #"{"temperature":20}"#, json: true)
        try await hub.send("d3", #"{"temperature":90}"#, json: true)
        #expect(try await hub.bodies("hot") == [#"{"temperature":70}"#])
        #expect(try await hub.bodies("routinghub").count == 3)
    }

    @Test("$twin conditions and enrichments read the sender's twin; a twin change is seen at once")
    func twinConditionsAndEnrichments() async throws {
        let hub = try Hub()
        for id in ["d1", "d2"] { _ = try await hub.services.registry.create(.init(identity: DeviceIdentity(deviceId: id))) }
        _ = try await hub.services.twins.update(DeviceIdentity(deviceId: "d1"), body: ["tags": ["site": "north", "floor": 3]],
                                                ifMatch: nil, replace: false)
        try await hub.endpoint("north")
        try await hub.route("bySite", "$twin.tags.site = 'north'", to: "north")
        try await hub.routing.change { configuration in
            try configuration.put(MessageEnrichment(key: "site", value: "$twin.tags.site", endpointNames: ["north", "events"]))
            try configuration.put(MessageEnrichment(key: "floor", value: "$twin.tags.floor", endpointNames: ["north"]))
            try configuration.put(MessageEnrichment(key: "hub", value: "$iothubname", endpointNames: ["north"]))
            try configuration.put(MessageEnrichment(key: "fixed", value: "v1", endpointNames: ["north"]))
        }
        try await hub.send("d1", "from-north", properties: ["own": "x"])
        try await hub.send("d2", "from-nowhere")
        let north = try await hub.events("north")
        #expect(north.map { String(decoding: $0.message.body, as: UTF8.self) } == ["from-north"])
        #expect(north.first?.message.properties == ["own": "x", "site": "north", "floor": "3", "hub": "routinghub", "fixed": "v1"])
        let events = try await hub.events("routinghub")
        #expect(events.map { String(decoding: $0.message.body, as: UTF8.self) } == ["from-nowhere"])
        #expect(events.first?.message.properties == ["site": "$twin.tags.site"], "a missing twin value adds the path, as IoT Hub does")
        // The twin changes: the next message routes by the new tags (the cache forgets the old twin).
        _ = try await hub.services.twins.update(DeviceIdentity(deviceId: "d2"), body: ["tags": ["site": "north"]],
                                                ifMatch: nil, replace: false)
        try await hub.send("d2", "now-north")
        #expect(try await hub.bodies("north") == ["from-north", "now-north"])
    }

    @Test("batches that wait for twins keep ingest order: each device's messages reach the endpoint in the order sent")
    func twinRoutingKeepsOrder() async throws {
        let hub = try Hub()
        let devices = (0..<8).map { "o\($0)" }
        for id in devices {
            _ = try await hub.services.registry.create(.init(identity: DeviceIdentity(deviceId: id)))
            _ = try await hub.services.twins.update(DeviceIdentity(deviceId: id), body: ["tags": ["site": "north"]], ifMatch: nil, replace: false)
        }
        try await hub.endpoint("north")
        try await hub.route("bySite", "$twin.tags.site = 'north'", to: "north")
        let events = hub.services.events
        let sources = devices.map { TelemetrySource(identity: DeviceIdentity(deviceId: $0), authentication: .sas, generationId: "1", protocol: "mqtt") }
        // 40 batches handed over without waiting, as event loops do: the first ones find no twin cached.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for batch in 0..<40 {
                var records: [EventRecord] = []
                for (index, source) in sources.enumerated() where (batch + index) % 3 != 0 {
                    let message = IoTHubMessage(text: "\(batch)", properties: ["n": "\(batch)"])
                    records.append(try events.record(message, from: source, at: EnqueueStamp(Timestamps.timestamp(Date()))).get())
                }
                let started = AsyncStream<Result<ClosedRange<Int64>, HubError>>.makeStream()
                events.append(records, counts: []) { result in
                    started.continuation.yield(result)
                    started.continuation.finish()
                }
                group.addTask {
                    for await result in started.stream { _ = try result.get() }
                }
            }
            try await group.waitForAll()
        }
        let stored = try await hub.events("north")
        for id in devices {
            let numbers = stored.filter { $0.identity.deviceId == id }.compactMap { $0.message.properties["n"].flatMap(Int.init) }
            #expect(!numbers.isEmpty && numbers == numbers.sorted(), "\(id): \(numbers)")
        }
        #expect(stored.count == (0..<40).reduce(0) { sum, batch in sum + (0..<8).filter { (batch + $0) % 3 != 0 }.count })
    }

    @Test("a storage endpoint batches by frequency into blobs named by its format, as Avro or JSON lines, and forgets only what it wrote")
    func storageEndpoint() async throws {
        let hub = try Hub()
        let settings = StorageEndpointSettings(containerName: "routed", encoding: .json, batchFrequencySeconds: 60)
        try await hub.routing.change { try $0.add(RoutingEndpoint(name: "cold", kind: .storage(settings))) }
        try await hub.route("archive", "true", to: "cold")
        try await hub.send("d1", #"{"n":1}"#, properties: ["k": "v"], json: true)
        try await hub.send("d1", "raw")
        // Acknowledged means in the outbox; nothing is written before the batch is due.
        #expect(try await hub.store.outboxSummary(endpoint: "cold")?.messages == 2)
        #expect(try await hub.writer.flush(now: Date()).isEmpty)
        let written = try await hub.writer.flush(now: Date().addingTimeInterval(61))
        #expect(written.count == 1)
        #expect(try await hub.store.outboxSummary(endpoint: "cold") == nil)
        let name = try #require(written.first)
        let parts = name.split(separator: "/")
        #expect(parts.count == 7 && parts[0] == "routinghub" && parts[1] == "\(EventHubPartitioner(count: 4).partition(for: "d1"))")
        let reader = try await hub.blobs.open(container: "routed", blob: name)
        let text = String(decoding: try reader.read(offset: 0, count: Int(reader.manifest.size)), as: UTF8.self)
        let lines = text.split(separator: "\n").map { try? JSONValue(parsing: String($0)) }
        #expect(lines.count == 2)
        #expect(lines[0]?["Body"]?["n"]?.int64Value == 1, "a JSON UTF-8 body is embedded")
        #expect(lines[0]?["Properties"]?["k"]?.stringValue == "v")
        #expect(lines[0]?["SystemProperties"]?["connectionDeviceId"]?.stringValue == "d1")
        #expect(lines[1]?["Body"]?.stringValue == Data("raw".utf8).base64EncodedString(), "other bodies are base64")
        // Avro: a second endpoint; the blob is an Avro container file with IoT Hub's schema.
        try await hub.routing.change { _ = try $0.deleteRoute(named: "archive") }
        try await hub.routing.change {
            try $0.add(RoutingEndpoint(name: "avro", kind: .storage(StorageEndpointSettings(containerName: "avro-out"))))
        }
        try await hub.route("toAvro", "true", to: "avro")
        try await hub.send("d1", "avro-body")
        let avro = try await hub.writer.flush(now: Date(), force: true)
        #expect(avro.count == 1)
        let avroReader = try await hub.blobs.open(container: "avro-out", blob: avro[0])
        let bytes = try avroReader.read(offset: 0, count: Int(avroReader.manifest.size))
        #expect(Array(bytes.prefix(4)) == AvroContainerWriter.magic)
        #expect(String(decoding: bytes, as: UTF8.self).contains("Microsoft.Azure.Devices"))
        // A real Avro reader (fastavro) reads it back: IoT Hub's schema, the storage names of system properties.
        let file = hub.directory + "/batch.avro"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let read = try await TestProcess.runOffPool(OracleScripts.python, [OracleScripts.path("avro_read.py"), file])
        #expect(read.status == 0, "\(read.output)")
        let records = read.output.split(separator: "\n").compactMap { try? JSONValue(parsing: String($0)) }
        #expect(records.first?["schema"]?.stringValue?.contains("\"namespace\":\"Microsoft.Azure.Devices\"") == true)
        #expect(records.count == 2, "the schema line and one record: \(read.output)")
        #expect(records.last?["Body"]?.stringValue == Data("avro-body".utf8).base64EncodedString())
        #expect(records.last?["SystemProperties"]?["connectionDeviceId"]?.stringValue == "d1")
        #expect(records.last?["EnqueuedTimeUtc"]?.stringValue?.hasSuffix("Z") == true)
    }

    @Test("a storage endpoint writes early once a chunk's worth waits, as the outbox counts it, and keeps the rest for its batch")
    func storageChunk() async throws {
        let hub = try Hub()
        let settings = StorageEndpointSettings(containerName: "chunks", encoding: .json,
                                               maxChunkSizeBytes: StorageEndpointSettings.maxChunkSizeRange.lowerBound)
        try await hub.routing.change { try $0.add(RoutingEndpoint(name: "cold", kind: .storage(settings))) }
        try await hub.route("archive", "true", to: "cold")
        // Large properties too: a chunk counts them (the outbox's size), not only the bodies.
        let body = String(repeating: "x", count: 220_000)
        let properties = ["pad": String(repeating: "p", count: 30_000)]
        for _ in 0..<45 { try await hub.send("big", body, properties: properties) }
        let waiting = try #require(try await hub.store.outboxSummary(endpoint: "cold"))
        #expect(waiting.messages == 45 && waiting.bytes > settings.maxChunkSizeBytes)
        // Not due by time: only the chunk goes, cut where the outbox's own count reaches the chunk size.
        let written = try await hub.writer.flush(now: Date())
        #expect(written.count == 1)
        let reader = try await hub.blobs.open(container: "chunks", blob: written[0])
        let lines = String(decoding: try reader.read(offset: 0, count: Int(reader.manifest.size)), as: UTF8.self).split(separator: "\n")
        let perMessage = waiting.bytes / 45
        let expected = Int((settings.maxChunkSizeBytes + perMessage - 1) / perMessage)
        #expect(lines.count == expected, "\(lines.count) messages in the chunk, \(perMessage) bytes each")
        #expect(try await hub.store.outboxSummary(endpoint: "cold")?.messages == 45 - expected)
    }

    @Test("lifecycle, twin-change and connection-state events carry IoT Hub's bodies and properties and are routable")
    func systemEvents() async throws {
        let hub = try Hub()
        try await hub.endpoint("system", partitions: 1)
        try await hub.route("life", "true", to: "system", source: .deviceLifecycleEvents)
        try await hub.route("twins", "true", to: "system", source: .twinChangeEvents)
        try await hub.route("connections", "opType = 'deviceConnected' OR opType = 'deviceDisconnected'", to: "system",
                            source: .deviceConnectionStateEvents)
        let identity = DeviceIdentity(deviceId: "sys-1")
        _ = try await hub.services.registry.create(.init(identity: identity))
        _ = try await hub.services.twins.update(identity, body: ["tags": ["a": 1], "properties": ["desired": ["rate": 5]]],
                                                ifMatch: nil, replace: false)
        _ = try await hub.services.twins.patchReported(identity, body: Array(#"{"fw":"1.2"}"#.utf8))
        let lease = hub.services.sessions.opened(RecordingSession(identity), protocol: "mqtt")
        hub.services.sessions.closed(lease)
        try await hub.services.registry.delete(identity, condition: .any)
        // System events are stored without a client waiting: wait (bounded) until all six are there.
        var events: [StoredEvent] = []
        for _ in 0..<200 {
            events = try await hub.events("system")
            if events.count >= 6 { break }
            await hub.services.events.signal.wait(after: hub.services.events.signal.lastAppended, timeout: .milliseconds(50))
        }
        let ops = events.map { $0.message.properties["opType"] ?? "?" }
        #expect(ops == ["createDeviceIdentity", "updateTwin", "updateTwin", "deviceConnected", "deviceDisconnected", "deleteDeviceIdentity"])
        for event in events {
            #expect(event.message.properties["hubName"] == "routinghub" && event.message.properties["deviceId"] == "sys-1")
            #expect(event.message.properties["operationTimestamp"] != nil)
            #expect(event.message.systemProperties.contentType == "application/json")
            #expect(event.message.systemProperties.connectionDeviceId == "sys-1")
        }
        func body(_ index: Int) -> JSONValue? { try? JSONValue(parsing: events[index].message.body) }
        #expect(events[0].message.systemProperties.messageSource == "deviceLifecycleEvents")
        #expect(events[0].message.properties["iothub-message-schema"] == "deviceLifecycleNotification")
        #expect(body(0)?["deviceId"]?.stringValue == "sys-1" && body(0)?["properties"] != nil)
        #expect(events[1].message.systemProperties.messageSource == "twinChangeEvents")
        #expect(events[1].message.properties["iothub-message-schema"] == "twinChangeNotification")
        #expect(body(1)?["tags"]?["a"]?.int64Value == 1 && body(1)?["properties"]?["desired"]?["rate"]?.int64Value == 5)
        #expect(body(1)?["properties"]?["desired"]?["$version"]?.int64Value != nil && body(1)?["version"]?.int64Value != nil)
        #expect(body(2)?["properties"]?["reported"]?["fw"]?.stringValue == "1.2")
        #expect(events[3].message.systemProperties.messageSource == "deviceConnectionStateEvents")
        #expect(events[3].message.properties["iothub-message-schema"] == "deviceConnectionStateNotification")
        let first = try #require(body(3)?["sequenceNumber"]?.stringValue)
        let second = try #require(body(4)?["sequenceNumber"]?.stringValue)
        #expect(first.count == 64 && second.count == 64 && first < second, "sequence numbers increase: \(first) \(second)")
        #expect(body(5)?["tags"]?["a"]?.int64Value == 1, "a deleted identity's event carries its last twin")
    }

    @Test("no system event is made without a route for its source, and telemetry never goes to system-event routes")
    func sourcesAreSeparate() async throws {
        let hub = try Hub()
        try await hub.endpoint("system", partitions: 1)
        try await hub.route("twins", "true", to: "system", source: .twinChangeEvents)
        _ = try await hub.services.registry.create(.init(identity: DeviceIdentity(deviceId: "quiet")))
        try await hub.send("quiet", "telemetry")
        #expect(try await hub.bodies("system").isEmpty)
        #expect(try await hub.bodies("routinghub") == ["telemetry"])
    }

    @Test("bad routes, endpoints and enrichments are refused with the reason; a bad condition with its position")
    func badInput() async throws {
        let hub = try Hub()
        await #expect { try await hub.route("r", "level = ", to: "events") } throws: { error in
            "\(error)".contains("position") || "\(error)".contains("character")
        }
        let refusal = Result { () throws(HubError) -> MessageRoute in
            try MessageRoute(json: ["name": "r", "source": "DeviceMessages", "condition": "a = 'x' AND (", "endpointNames": ["events"]])
        }
        guard case .failure(let error) = refusal else { Issue.record("a bad condition was accepted"); return }
        #expect(error.code == .argumentInvalid && error.message.contains("position 13"), "\(error)")
        await #expect { try await hub.route("r", "true", to: "nowhere") } throws: { ($0 as? HubError)?.code == .argumentInvalid }
        await #expect { try await hub.endpoint("events") } throws: { ($0 as? HubError)?.message.contains("'events' already exists") == true }
        await #expect { try await hub.endpoint("fileNotifications") } throws: { ($0 as? HubError)?.message.contains("reserved") == true }
        try await hub.endpoint("hot")
        await #expect { try await hub.endpoint("HOT") } throws: { ($0 as? HubError)?.code == .routingResourceAlreadyExists }
        try await hub.route("r", "true", to: "hot")
        await #expect { try await hub.route("r", "true", to: "hot") } throws: { ($0 as? HubError)?.code == .routingResourceAlreadyExists }
        await #expect { try await hub.routing.change { _ = try $0.deleteEndpoint(named: "hot") } } throws: {
            ($0 as? HubError)?.message.contains("used by route") == true
        }
        await #expect { try await hub.routing.change { try $0.add(RoutingEndpoint(name: "s", kind: .storage(StorageEndpointSettings(containerName: "Bad_Name")))) } }
            throws: { ($0 as? HubError)?.code == .argumentInvalid }
        await #expect { try await hub.routing.change { try $0.put(MessageEnrichment(key: "k", value: "$twin.nothing", endpointNames: ["events"])) } }
            throws: { ($0 as? HubError)?.code == .argumentInvalid }
        #expect(throws: HubError.self) { try RouteSource(name: "Telemetry") }
        // Nothing of the refused changes stuck.
        #expect(hub.routing.configuration.routes.map(\.name) == ["r"] && hub.routing.configuration.endpoints.map(\.name) == ["hot"])
    }

    @Test("the configuration is kept in the store: a restarted hub routes the same way")
    func persisted() async throws {
        let hub = try Hub()
        try await hub.endpoint("hot")
        try await hub.route("critical", "level = 'critical'", to: "hot")
        try await hub.routing.change { $0.fallbackEnabled = false }
        let other = HubServices(hostName: "routinghub.example.net", store: hub.store, policies: [], logger: Logger(label: "test"))
        #expect(other.routing.isPassThrough)
        try await other.routing.refresh()
        #expect(other.routing.configuration == hub.routing.configuration)
        #expect(other.routing.eventStream(named: "hot")?.stream == hub.routing.eventStream(named: "hot")?.stream)
    }

    @Test("route test evaluates a route on a sample message without sending it")
    func routeTest() async throws {
        let hub = try Hub()
        try await hub.endpoint("hot")
        try await hub.route("critical", "level = 'critical' AND $body.t > 1", to: "hot")
        try await hub.routing.change { try $0.put(MessageEnrichment(key: "e", value: "v", endpointNames: ["hot"])) }
        let response = try await RoutingController.test([
            "route": "critical",
            "message": ["body": #"{"t":5}"#, "appProperties": ["level": "critical"],
                        "systemProperties": ["contentType": "application/json", "contentEncoding": "utf-8"]],
        ], routing: hub.routing)
        let body = response
        #expect(body["result"]?.stringValue == "true" && body["endpoints"]?[0]?.stringValue == "hot", "\(body)")
        #expect(body["properties"]?["hot"]?["e"]?.stringValue == "v")
        let miss = try await RoutingController.test(["route": "critical", "message": ["body": "x", "appProperties": ["level": "critical"]]],
                                                    routing: hub.routing)
        #expect(miss["result"]?.stringValue == "false")
        #expect(try await hub.bodies("hot").isEmpty, "a test sends nothing")
    }
}
