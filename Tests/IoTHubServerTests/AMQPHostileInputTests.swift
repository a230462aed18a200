import Foundation
import IoTHubProtocol
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// Hostile input on the AMQP endpoint: each gets a clear AMQP answer, and other connections and devices carry on.
@Suite("hostile input on the AMQP endpoint", .serialized)
struct AMQPHostileInputTests {
    @Test("garbage, unknown SASL mechanism, bad PLAIN, expired token and huge frames are refused; a good device is served, and no connection is left behind")
    func hostileInput() async throws {
        let hub = try await LiveTestHub.start()
        let result: Result<[String: Any], any Error>
        do {
            var devices: [[String: String]] = []
            for id in ["hostile-a", "hostile-b"] {
                let (record, _) = try await hub.device(id)
                guard case .sas(let key, _) = record.authentication else { throw HubError.invalid("not SAS") }
                devices.append(["id": id, "key": key.base64])
            }
            let config: [String: Any] = [
                "host": "hub.test", "connectHost": "localhost", "tlsPort": try #require(await hub.server.waitForPort(.amqps)),
                "plainPort": hub.amqpPort, "ca": hub.server.data.tls.caCertificatePath, "devices": devices,
            ]
            let path = TestProcess.temporaryDirectory() + "/hostile.json"
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
            result = .success(try await Python.runJSON("amqp_hostile_scenario.py", [path], caPath: hub.server.data.tls.caCertificatePath))
        } catch {
            result = .failure(error)
        }
        let events = try await hub.services.events.events(after: 0, deviceId: nil)
        // Every hostile connection was closed and gave back its admission slot.
        var open = hub.services.admission.openConnections
        for _ in 0..<500 where open > 0 {
            try await Task.sleep(for: .milliseconds(10))
            open = hub.services.admission.openConnections
        }
        await hub.stop()
        let out = try result.get()
        // Not AMQP: the hub answers with the AMQP protocol header it speaks and hangs up, over TCP and over TLS.
        for name in ["garbage", "garbageTLS"] {
            let answer = try #require(out[name] as? [String: Any])
            #expect(answer["header"] as? String == "414d515000010000" && answer["closed"] as? Bool == true, "\(name)")
        }
        // SASL: the four mechanisms are offered; an unknown one gets outcome 1 (auth).
        let sasl = try #require(out["unknownMechanism"] as? [String: Any])
        #expect(sasl["offered"] as? [String] == ["MSSBCBS", "PLAIN", "ANONYMOUS", "EXTERNAL"])
        #expect(sasl["outcomeCode"] as? Int == 1 && sasl["closed"] as? Bool == true)
        // A frame larger than the limit ends the connection; after open the close says amqp:connection:framing-error.
        #expect((out["hugeFrame"] as? [String: Any])?["closed"] as? Bool == true)
        let huge = try #require(out["openThenHugeFrame"] as? [String: Any])
        #expect(huge["closed"] as? Bool == true && huge["framingError"] as? Bool == true)
        // A wrong PLAIN password and an expired CBS token are refused; a good PLAIN login and a good device work.
        #expect((out["badPlain"] as? [String: Any])?["error"] != nil)
        #expect(out["goodPlain"] as? [String] == ["SendComplete"])
        #expect(((out["expiredToken"] as? [String: Any])?["error"] as? String)?.contains("401") == true)
        #expect(out["afterwards"] as? [String] == ["SendComplete"])
        #expect(events.map { String(decoding: $0.message.body, as: UTF8.self) } == ["hostile", "hostile"])
        #expect(open == 0, "\(open) connections still held an admission slot")
    }
}
