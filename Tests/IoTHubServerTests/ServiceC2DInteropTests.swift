import Foundation
import IoTHubProtocol
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// The official `azure-iot-hub` package's C2D sends (uamqp, AMQP over TLS on 5671) against our hub.
@Suite("interop: azure-iot-hub send_c2d_message over AMQP", .serialized)
struct ServiceC2DInteropTests {
    @Test("reaches a device over MQTT and one over AMQP with properties; a full queue and an unknown device are refused")
    func sendCloudToDevice() async throws {
        let hub = try await RunningHub.start()
        let result: Result<[String: Any], any Error>
        do {
            var connectionStrings: [String] = []
            for id in ["c2d-mqtt", "c2d-amqp", "c2d-full"] {
                let record = try await hub.server.services.registry.create(.init(identity: DeviceIdentity(deviceId: id)))
                guard case .sas(let key, _) = record.authentication else { throw HubError.invalid("not SAS") }
                connectionStrings.append("HostName=localhost;DeviceId=\(id);SharedAccessKey=\(key.base64)")
            }
            result = .success(try await Python.runJSON(
                "service_c2d_scenario.py",
                [hub.ownerConnectionString, hub.caPath, connectionStrings[0], connectionStrings[1], "c2d-full"],
                caPath: hub.caPath))
        } catch {
            result = .failure(error)
        }
        await hub.stop()
        let out = try result.get()
        #expect(out["sendMqtt"] is NSNull && out["sendAmqp"] is NSNull)
        #expect((out["unknown"] as? String)?.isEmpty == false)
        let depth = try #require(out["queueDepth"] as? [String: Any])
        #expect(depth["accepted"] as? Int == 50)
        #expect((depth["last"] as? String)?.isEmpty == false)
        let mqtt = try #require(out["mqtt"] as? [String: Any])
        #expect(mqtt["body"] as? String == "to mqtt" && mqtt["color"] as? String == "blue")
        #expect(mqtt["id"] as? String == "svc-1" && mqtt["correlation"] as? String == "corr-1")
        #expect(mqtt["contentType"] as? String == "text/plain")
        let amqp = try #require(out["amqp"] as? [[String: Any]])
        #expect(amqp.count == 1 && amqp.first?["body"] as? String == "to amqp" && amqp.first?["color"] as? String == "red")
    }
}
