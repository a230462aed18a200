import Foundation
import IoTHubProtocol
import IoTHubTestSupport
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// uamqp, Microsoft's AMQP client, as an independent device and back end against the hub's AMQP endpoint (5671's
/// TLS listener, on a port the system chose).
@Suite("interop: uamqp against the AMQP endpoint", .serialized)
struct AMQPInteropTests {
    @Test("CBS, telemetry (single and batch), twin, methods, C2D dispositions and feedback, and refusals")
    func deviceAndService() async throws {
        // Python's uamqp with its timeouts: not while a scale test loads the machine.
        let heavy = try await HeavyTestLock.acquire()
        defer { heavy.release() }
        let hub = try await LiveTestHub.start()
        let result: Result<[String: Any], any Error>
        do {
            let device = try await hub.device("amqp-dev")
            _ = try await hub.device("other-dev")
            guard case .sas(let key, _) = device.record.authentication else { throw HubError.invalid("not SAS") }
            let port = try #require(await hub.server.waitForPort(.amqps))
            let owner = hub.server.data.policies[0]
            let config: [String: Any] = [
                "host": "hub.test", "connectHost": "localhost", "port": port, "httpPort": hub.httpPort,
                "ca": hub.server.data.tls.caCertificatePath,
                "device": ["id": "amqp-dev", "key": key.base64], "otherDevice": "other-dev",
                "policy": ["name": owner.name, "key": owner.primaryKey.base64],
            ]
            let json = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
            result = .success(try await Python.runJSON("amqp_device_scenario.py", [json], caPath: hub.server.data.tls.caCertificatePath))
        } catch {
            result = .failure(error)
        }
        let events = try await hub.services.events.events(after: 0, deviceId: "amqp-dev")
        let record = try? await hub.services.registry.get(DeviceIdentity(deviceId: "amqp-dev"))
        await hub.stop()
        let out = try result.get()

        // Telemetry: one message with properties, then a Microsoft batch of two; all stored, with the hub's stamps.
        #expect(out["telemetry"] as? [String] == ["SendComplete", "SendComplete"])
        #expect(events.map { String(decoding: $0.message.body, as: UTF8.self) } == [#"{"temp":21}"#, "batch-1", "batch-2"])
        let first = try #require(events.first?.message)
        #expect(first.systemProperties.messageId == "m-1" && first.systemProperties.correlationId == "c-1")
        #expect(first.systemProperties.contentType == "application/json" && first.systemProperties.contentEncoding == "utf-8")
        #expect(first.properties == ["level": "info"])
        #expect(first.systemProperties.connectionDeviceId == "amqp-dev")
        #expect(record?.connectionState == .disconnected)

        // A wrong key is refused by CBS with 401; another device's address by the link's attach.
        #expect((out["wrongKey"] as? [String: Any])?["error"].map { "\($0)" }?.contains("401") == true)
        #expect((out["otherDevice"] as? [String: Any])?["error"].map { "\($0)" }?.contains("UnauthorizedAccess") == true)

        // Twin: GET, PATCH reported (204 with the new version), subscribe, a bad patch (400), a desired patch.
        let twin = try #require(out["twin"] as? [String: Any])
        let answers = try #require(twin["answers"] as? [String: [String: Any]])
        #expect(answers["get-1"]?["status"] as? Int == 200)
        #expect((answers["get-1"]?["body"] as? String)?.contains(#""reported""#) == true)
        #expect(answers["patch-1"]?["status"] as? Int == 204 && answers["patch-1"]?["version"] as? Int == 2)
        #expect(answers["put-1"]?["status"] as? Int == 200)
        #expect(answers["bad-1"]?["status"] as? Int == 400)
        let patches = try #require(twin["patches"] as? [[String: Any]])
        #expect(patches.count == 1 && (patches.first?["body"] as? String)?.contains(#""fan":true"#) == true)

        // Methods: the request carries a uuid correlation id and the name; the answer's status and payload reach
        // the caller.
        let methods = try #require(out["methods"] as? [String: Any])
        let request = try #require(methods["request"] as? [String: Any])
        #expect(request["name"] as? String == "reboot" && request["correlationType"] as? String == "UUID")
        #expect(request["body"] as? String == #"{"delay":1}"#)
        let call = try #require(methods["call"] as? [String: Any])
        #expect(call["status"] as? Int == 200)
        #expect((call["result"] as? [String: Any])?["status"] as? Int == 201)

        // C2D: three queued (one for an unknown device refused), received with their properties; accepted =
        // complete, rejected = dead-letter, released = delivered again; feedback for the two that asked.
        let c2d = try #require(out["cloudToDevice"] as? [String: Any])
        #expect(c2d["error"] == nil, "the C2D step failed: \(c2d)")
        #expect(c2d["sends"] as? [String] == ["SendComplete", "SendComplete", "SendComplete", "SendFailed"])
        let received = try #require(c2d["received"] as? [[String: Any]])
        #expect(received.map { $0["id"] as? String } == ["c2d-0", "c2d-1", "c2d-2"])
        #expect(received.first?["to"] as? String == "/devices/amqp-dev/messages/deviceBound")
        #expect(received.first?["correlation"] as? String == "corr-0" && received.first?["contentType"] as? String == "text/plain")
        #expect(received.first?["properties"] as? [String: String] == ["k": "v0"])
        #expect(c2d["redelivered"] as? [String] == ["c2d-2"])
        #expect((c2d["feedback"] as? [[String]]) == [["c2d-0", "Success"], ["c2d-1", "Rejected"]])
    }
}
