import Foundation
import IoTHubProtocol
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// The official `azure-eventhub` client, with each of its AMQP stacks, reads the built-in endpoint after the
/// official `azure-iot-device` clients sent telemetry over MQTT.
@Suite("interop: azure-eventhub reads the built-in endpoint", .serialized)
struct EventHubInteropTests {
    @Test("partition ids and properties; from the start, an offset, a sequence number and a time; order, stamps, properties; a wrong key",
          arguments: ["pyamqp", "uamqp"])
    func officialClient(transport: String) async throws {
        let hub = try await RunningHub.start()
        let result: Result<[String: Any], any Error>
        do {
            var devices: [String] = []
            for id in ["eh-a", "eh-b"] {
                let record = try await hub.server.services.registry.create(.init(identity: DeviceIdentity(deviceId: id)))
                guard case .sas(let key, _) = record.authentication else { throw HubError.invalid("not SAS") }
                devices.append("HostName=localhost;DeviceId=\(id);SharedAccessKey=\(key.base64)")
            }
            // The connection string as the operator gets it.
            let printed = try await TestProcess.runOffPool(CommandLineTests.binary, [
                "connection-string", "--eventhub", "--policy", "service", "--data-dir", hub.server.configuration.dataDirectory])
            let connectionString = printed.output.trimmingCharacters(in: .whitespacesAndNewlines)
            let policy = try #require(hub.server.data.policies.first { $0.name == "service" })
            #expect(connectionString == "Endpoint=sb://127.0.0.1/;SharedAccessKeyName=service;SharedAccessKey=\(policy.primaryKey.base64);EntityPath=iothub")
            let refused = try await TestProcess.runOffPool(CommandLineTests.binary, [
                "connection-string", "--eventhub", "--policy", "registryRead", "--data-dir", hub.server.configuration.dataDirectory])
            #expect(refused.status != 0 && refused.output.contains("ServiceConnect"), "\(refused.output)")
            let wrong = connectionString.replacingOccurrences(of: policy.primaryKey.base64, with: SharedAccessKey.random().base64)
            // Consumer groups through the command line.
            let cli = ["--connection-string", hub.ownerConnectionString, "--ca-file", hub.caPath]
            let created = try await TestProcess.runOffPool(CommandLineTests.binary, ["consumer-group", "create", "analytics"] + cli)
            let duplicate = try await TestProcess.runOffPool(CommandLineTests.binary, ["consumer-group", "create", "analytics"] + cli)
            let listed = try await TestProcess.runOffPool(CommandLineTests.binary, ["consumer-group", "list"] + cli)
            let deleted = try await TestProcess.runOffPool(CommandLineTests.binary, ["consumer-group", "delete", "analytics"] + cli)
            #expect(created.status == 0 && created.output.contains("\"analytics\""), "\(created.output)")
            #expect(duplicate.status != 0 && duplicate.output.contains("ConsumerGroupAlreadyExists"), "\(duplicate.output)")
            #expect(listed.output.split(separator: "\n").count == 2 && listed.output.contains("$Default"), "\(listed.output)")
            #expect(deleted.status == 0, "\(deleted.output)")
            result = .success(try await Python.runJSON(
                "eventhub_scenario.py", [transport, connectionString, hub.caPath, devices[0], devices[1], wrong, "1"],
                caPath: hub.caPath))
        } catch {
            result = .failure(error)
        }
        await hub.stop()
        let out = try result.get()

        #expect(out["partitionIds"] as? [String] == ["0", "1", "2", "3"])
        let eventHub = try #require(out["eventHub"] as? [String: String])
        #expect(eventHub["eventhub_name"] == "iothub")
        let partitions = try #require(out["partitions"] as? [[String: Any]])
        #expect(partitions.count == 4)
        let total = partitions.reduce(0) { sum, p in
            sum + ((p["is_empty"] as? Bool) == true ? 0
                   : ((p["last_enqueued_sequence_number"] as? Int ?? 0) - (p["beginning_sequence_number"] as? Int ?? 0) + 1))
        }
        #expect(total == 10, "\(partitions)")

        let events = try #require(out["fromStart"] as? [[String: Any]])
        #expect(events.count == 10, "\(out["fromStartErrors"] ?? "")")
        for device in ["eh-a", "eh-b"] {
            let mine = events.filter { $0["deviceId"] as? String == device }
            #expect(mine.count == 5)
            // One partition per device, in the order the device sent, numbered without gaps.
            #expect(Set(mine.compactMap { $0["partition"] as? String }).count == 1)
            let sorted = mine.sorted { ($0["sequenceNumber"] as? Int ?? 0) < ($1["sequenceNumber"] as? Int ?? 0) }
            #expect(sorted.compactMap { ($0["properties"] as? [String: Any])?["index"] as? String } == ["0", "1", "2", "3", "4"])
            #expect(sorted.compactMap { $0["messageId"] as? String } == (0..<5).map { "\(device.dropFirst(3))-\($0)" })
            let offsets = sorted.compactMap { ($0["offset"] as? String).flatMap { Int($0) } }
            #expect(offsets.count == 5 && offsets == offsets.sorted())
            for event in mine {
                #expect(event["partitionKey"] as? String == device)
                #expect(event["messageSource"] as? String == "Telemetry")
                #expect((event["authMethod"] as? String)?.contains("\"type\":\"sas\"") == true)
                #expect(event["contentType"] as? String == "application/json")
                #expect((event["body"] as? String)?.contains("\"from\": \"\(device.dropFirst(3))\"") == true)
                #expect((event["properties"] as? [String: Any])?["tag"] as? String == String(device.dropFirst(3)))
                #expect((event["enqueuedMs"] as? Int ?? 0) > 1_700_000_000_000)
            }
        }
        let expectedAfter = try #require(out["expectedAfter"] as? Int)
        let third = try #require(out["thirdSequence"] as? Int)
        let after = try #require(out["afterOffset"] as? [[String: Any]])
        #expect(after.count == expectedAfter && after.allSatisfy { ($0["sequenceNumber"] as? Int ?? -1) > third })
        let at = try #require(out["atOffset"] as? [[String: Any]])
        #expect(at.count == expectedAfter + 1 && at.first?["sequenceNumber"] as? Int == third)
        let afterSequence = try #require(out["afterSequence"] as? [[String: Any]])
        #expect(afterSequence.count == expectedAfter && afterSequence.first?["sequenceNumber"] as? Int == third + 1)
        let fromEnqueued = try #require(out["fromEnqueued"] as? [[String: Any]])
        #expect(fromEnqueued.count >= expectedAfter + 1 && (fromEnqueued.first?["sequenceNumber"] as? Int ?? .max) <= third)
        #expect((out["fromBefore"] as? [[String: Any]])?.count == 10)
        let stolen = (out["epochFirstErrors"] as? [String] ?? []).joined(separator: " | ")
        #expect(stolen.contains("amqp:link:stolen") || stolen.contains("higher epoch"), "\(stolen)")
        #expect((out["epochSecondErrors"] as? [String] ?? []).isEmpty, "\(out["epochSecondErrors"] ?? "")")
        let lower = (out["epochLowerErrors"] as? [String] ?? []).joined(separator: " | ")
        #expect(lower.contains("higher epoch") || lower.contains("link:stolen"), "\(lower)")
        let missing = (out["missingGroupErrors"] as? [String] ?? []).joined(separator: " | ")
        #expect(missing.contains("no-such-group"), "\(missing)")
        let wrongKey = try #require(out["wrongKey"] as? String, "a wrong key must be refused")
        #expect(wrongKey.contains("Authentication") || wrongKey.contains("401"), "\(wrongKey)")
    }

    @Test("routes set up with the command line: azure-eventhub reads a custom endpoint under its own EntityPath, with enrichments and lifecycle events; unmatched telemetry reaches events")
    func routedCustomEndpoint() async throws {
        let hub = try await RunningHub.start()
        let result: Result<[String: Any], any Error>
        var outputs: [String] = []
        do {
            let cli = ["--connection-string", hub.ownerConnectionString, "--ca-file", hub.caPath]
            func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
                let done = try await TestProcess.runOffPool(CommandLineTests.binary, arguments + cli)
                outputs.append("iothub \(arguments.joined(separator: " ")): \(done.status) \(done.output)")
                return done
            }
            #expect(try await run(["endpoint", "add", "hot", "--partitions", "2"]).status == 0)
            #expect(try await run(["route", "add", "critical", "--condition", "level = 'critical'", "--endpoint-name", "hot"]).status == 0)
            #expect(try await run(["route", "add", "lifecycle", "--source", "DeviceLifecycleEvents", "--endpoint-name", "hot"]).status == 0)
            #expect(try await run(["enrichment", "add", "site", "--value", "$twin.tags.site", "--endpoint-name", "hot"]).status == 0)
            let bad = try await run(["route", "add", "broken", "--condition", "level = ", "--endpoint-name", "hot"])
            #expect(bad.status != 0 && bad.output.contains("position"), "\(bad.output)")
            let tested = try await run(["route", "test", "critical", "--app-property", "level=critical"])
            #expect(tested.output.contains("\"result\": \"true\""), "\(tested.output)")
            let group = try await run(["consumer-group", "create", "hot-readers", "--event-hub", "hot"])
            #expect(group.status == 0 && group.output.contains("hot-readers"), "\(group.output)")
            let groups = try await run(["consumer-group", "list", "--event-hub", "hot"])
            #expect(groups.output.contains("hot-readers") && groups.output.contains("$Default"), "\(groups.output)")
            let builtInGroups = try await run(["consumer-group", "list"])
            #expect(!builtInGroups.output.contains("hot-readers"), "a custom endpoint's groups are its own: \(builtInGroups.output)")
            let listed = try await run(["route", "list"])
            #expect(listed.output.split(separator: "\n").count == 2, "\(listed.output)")
            let record = try await hub.server.services.registry.create(.init(identity: DeviceIdentity(deviceId: "routed-1")))
            guard case .sas(let key, _) = record.authentication else { throw HubError.invalid("not SAS") }
            _ = try await hub.server.services.twins.update(DeviceIdentity(deviceId: "routed-1"), body: ["tags": ["site": "north"]],
                                                           ifMatch: nil, replace: false)
            let printed = try await TestProcess.runOffPool(CommandLineTests.binary, [
                "connection-string", "--eventhub", "--policy", "service", "--data-dir", hub.server.configuration.dataDirectory])
            result = .success(try await Python.runJSON(
                "routing_scenario.py", [printed.output.trimmingCharacters(in: .whitespacesAndNewlines), hub.caPath,
                                        "HostName=localhost;DeviceId=routed-1;SharedAccessKey=\(key.base64)", "hot"],
                caPath: hub.caPath))
        } catch {
            result = .failure(error)
        }
        await hub.stop()
        let out = try result.get()
        #expect(out["customPartitionIds"] as? [String] == ["0", "1"])
        #expect(out["customName"] as? String == "hot")
        let custom = try #require(out["custom"] as? [[String: Any]], "\(outputs)")
        #expect(custom.count == 4, "\(out["customErrors"] ?? "") \(outputs)")
        let lifecycle = custom.filter { $0["messageSource"] as? String == "deviceLifecycleEvents" }
        #expect(lifecycle.count == 1 && (lifecycle.first?["properties"] as? [String: Any])?["opType"] as? String == "createDeviceIdentity")
        let telemetry = custom.filter { $0["messageSource"] as? String == "Telemetry" }
        #expect(telemetry.compactMap { ($0["properties"] as? [String: Any])?["index"] as? String }.sorted() == ["0", "2", "4"])
        #expect(telemetry.allSatisfy { ($0["properties"] as? [String: Any])?["site"] as? String == "north" }, "\(telemetry)")
        #expect(telemetry.allSatisfy { $0["deviceId"] as? String == "routed-1" })
        let builtIn = try #require(out["builtIn"] as? [[String: Any]])
        #expect(builtIn.compactMap { ($0["properties"] as? [String: Any])?["index"] as? String }.sorted() == ["1", "3", "5"],
                "\(out["builtInErrors"] ?? "")")
        #expect(builtIn.allSatisfy { ($0["properties"] as? [String: Any])?["site"] == nil }, "enrichments apply to their endpoints only")
        let missing = (out["missingErrors"] as? [String] ?? []).joined(separator: " | ")
        #expect(missing.lowercased().contains("authentication") || missing.lowercased().contains("not found"), "an unknown EntityPath is refused: \(missing)")
    }
}
