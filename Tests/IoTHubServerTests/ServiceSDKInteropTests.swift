import Foundation
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// The official `azure-iot-hub` package against our hub over HTTPS on 443.
@Suite("interop: azure-iot-hub over HTTPS", .serialized)
struct ServiceSDKInteropTests {
    @Test("registry, twins, methods, statistics and errors as the official service SDK sees them")
    func registryAndTwins() async throws {
        let hub = try await RunningHub.start()
        let result: Result<[String: Any], any Error>
        do {
            result = .success(try await Python.runJSON("service_sdk_scenario.py", [hub.ownerConnectionString], caPath: hub.caPath))
        } catch {
            result = .failure(error)
        }
        await hub.stop()
        let out = try result.get()
        let created = try #require(out["created"] as? [String: Any])
        #expect(created["id"] as? String == "sdk-dev" && created["type"] as? String == "sas" && created["hasKey"] as? Bool == true)
        #expect(out["duplicate"] as? Int == 409)
        #expect((out["fetched"] as? [String: Any])?["connectionState"] as? String == "Disconnected")
        #expect((out["updated"] as? [String: Any])?["status"] as? String == "disabled")
        #expect((out["updated"] as? [String: Any])?["etagChanged"] as? Bool == true)
        #expect(out["staleEtag"] as? Int == 412)
        let twin = try #require(out["twin"] as? [String: Any])
        #expect(twin["version"] as? Int == 2 && twin["setpoint"] as? Int == 21 && twin["desiredVersion"] as? Int == 2)
        #expect(twin["tags"] as? [String: Int] == ["floor": 2])
        #expect(out["staleTwin"] as? Int == 412)
        #expect(out["replaced"] as? [String] == ["only"])
        #expect(out["queryBeforeReplace"] as? [String] == ["sdk-dev"])
        // replace_twin without tags keeps them, so the query still finds the device.
        #expect((out["query"] as? [String: Any])?["ids"] as? [String] == ["sdk-dev"])
        #expect((out["query"] as? [String: Any])?["type"] as? String == "twin")
        #expect(out["offlineMethod"] as? Int == 404)
        #expect(out["registryStats"] as? Int == 1)
        #expect(out["serviceStats"] as? Int == 0)
        #expect(out["list"] as? [String] == ["sdk-dev"])
        #expect(out["missing"] as? Int == 404)
        #expect(out["afterDelete"] as? Int == 404)
        #expect(out["wrongKey"] as? Int == 401)
    }
}
