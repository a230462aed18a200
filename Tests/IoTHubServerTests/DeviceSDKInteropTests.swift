import Foundation
import IoTHubProtocol
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// The official `azure-iot-device` package (MQTT over TLS on 8883) against our hub, with `azure-iot-hub` as the
/// service side, and telemetry read back through `iothub monitor`.
@Suite("interop: azure-iot-device over MQTT", .serialized)
struct DeviceSDKInteropTests {
    @Test("telemetry, twins both ways, methods with timeout, C2D, refusals and delete-while-connected")
    func deviceScenario() async throws {
        let hub = try await RunningHub.start()
        let result: Result<([String: Any], [JSONValue]), any Error>
        do {
            let out = try await Python.runJSON("device_sdk_scenario.py", [hub.ownerConnectionString, hub.caPath], caPath: hub.caPath)
            let monitor = try await TestProcess.runOffPool(CommandLineTests.binary, [
                "monitor", "--device", "mqtt-dev", "--from-start", "--limit", "3",
                "--connection-string", hub.ownerConnectionString, "--ca-file", hub.caPath,
            ])
            let lines = try monitor.output.split(separator: "\n").map { try JSONValue(parsing: String($0)) }
            result = .success((out, lines))
        } catch {
            result = .failure(error)
        }
        await hub.stop()
        let (out, events) = try result.get()

        #expect(out["connected"] as? Bool == true)
        #expect(out["registryConnectionState"] as? String == "Connected")
        let twin = try #require(out["twin"] as? [String: Any])
        #expect(twin["reportedVersionBefore"] as? Int == 1 && twin["reportedVersionAfter"] as? Int == 2)
        #expect(twin["firmware"] as? String == "1.2.3" && twin["mode"] as? String == "eco")
        #expect(out["serviceSeesReported"] as? String == "1.2.3")
        let desired = try #require(out["desired"] as? [String: Any])
        #expect(desired["fan"] as? Bool == true && desired["speed"] as? Int == 3 && desired["$version"] as? Int == 2)
        #expect(out["desiredInGet"] as? Int == 3)
        let method = try #require(out["method"] as? [String: Any])
        #expect(method["status"] as? Int == 200)
        #expect((method["payload"] as? [String: Any])?["method"] as? String == "reboot")
        #expect(((method["payload"] as? [String: Any])?["echo"] as? [String: Any])?["delay"] as? Int == 5)
        #expect(out["methodTimeout"] as? Int == 504)
        #expect((out["methodTimeoutSeconds"] as? Double ?? 0) >= 4.5)
        #expect(out["c2dSendStatus"] as? Int == 204)
        let c2d = try #require(out["c2d"] as? [String: Any])
        #expect(c2d["data"] as? String == "switch on" && c2d["messageId"] as? String == "c2d-1")
        #expect(c2d["correlationId"] as? String == "c2d-corr" && c2d["color"] as? String == "red")
        #expect(out["c2dPendingAfter"] as? Int == 0)
        #expect(out["wrongKey"] as? String == "CredentialError")
        #expect(out["expiredToken"] as? String == "CredentialError")
        #expect(out["disabled"] as? String == "CredentialError")
        #expect(out["disconnectedAfterDelete"] as? Bool == true)
        #expect(out["offlineAfterDelete"] as? Int == 404)

        // The three messages, as `iothub monitor` streams them.
        try #require(events.count == 3)
        for (index, event) in events.enumerated() {
            #expect(event["body"] == .string(#"{"index": \#(index), "temp": \#(20 + index)}"#))
            #expect(event["properties"]?["index"] == .string("\(index)"))
            #expect(event["properties"]?["alert level"] == "high & dry")
            let system = try #require(event["systemProperties"])
            #expect(system["message-id"] == .string("msg-\(index)"))
            #expect(system["correlation-id"] == "corr-1")
            #expect(system["content-type"] == "application/json")
            #expect(system["content-encoding"] == "utf-8")
            #expect(system["iothub-connection-device-id"] == "mqtt-dev")
            #expect(system["iothub-enqueuedtime"] != nil)
        }
    }
}
