import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import IoTHubProtocol
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

@Suite("REST: devices and statistics")
struct DevicesControllerTests {
    func json(_ buffer: ByteBuffer) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? [String: Any])
    }

    @Test("create, read, update with If-Match, delete; IoT Hub's error bodies")
    func crud() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        let app = Application(router: HubRouter.make(hub.services))
        try await app.test(.router) { client in
            let auth: HTTPFields = [.authorization: hub.token()]
            var etag = ""
            try await client.execute(uri: "/devices/dev%241?api-version=2021-04-12", method: .put, headers: auth,
                                     body: ByteBuffer(string: #"{"deviceId":"dev$1","status":"enabled"}"#)) { response in
                #expect(response.status == .ok)
                let body = try json(response.body)
                #expect(body["deviceId"] as? String == "dev$1")
                let authentication = try #require(body["authentication"] as? [String: Any])
                #expect(authentication["type"] as? String == "sas")
                let keys = try #require(authentication["symmetricKey"] as? [String: Any])
                #expect((keys["primaryKey"] as? String)?.isEmpty == false)
                etag = try #require(body["etag"] as? String)
                #expect(response.headers[.eTag] == "\"\(etag)\"")
                #expect(body["connectionState"] as? String == "Disconnected")
                #expect(body["lastActivityTime"] as? String == "0001-01-01T00:00:00Z")
            }
            // Creating again without If-Match: 409 DeviceAlreadyExists.
            try await client.execute(uri: "/devices/dev%241", method: .put, headers: auth, body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .conflict)
                #expect(response.headers[HTTPField.Name("iothub-errorcode")!] == "DeviceAlreadyExists")
                #expect((try! json(response.body)["Message"] as? String)?.hasPrefix("ErrorCode:DeviceAlreadyExists;") == true)
                #expect(try! json(response.body)["errorCode"] as? Int == 409001)
            }
            var update = auth
            update[.ifMatch] = "\"\(etag)\""
            try await client.execute(uri: "/devices/dev%241", method: .put, headers: update,
                                     body: ByteBuffer(string: #"{"deviceId":"dev$1","status":"disabled","statusReason":"x"}"#)) { response in
                #expect(response.status == .ok)
                #expect(try! json(response.body)["status"] as? String == "disabled")
            }
            // The old etag is now stale.
            try await client.execute(uri: "/devices/dev%241", method: .put, headers: update, body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .preconditionFailed)
                #expect(try! json(response.body)["errorCode"] as? Int == 412002)
            }
            try await client.execute(uri: "/devices/dev%241", method: .get, headers: auth) { response in
                #expect(response.status == .ok)
                #expect(try! json(response.body)["statusReason"] as? String == "x")
            }
            try await client.execute(uri: "/devices/dev%241", method: .delete, headers: auth) { response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/devices/dev%241", method: .get, headers: auth) { response in
                #expect(response.status == .notFound)
                #expect(try! json(response.body)["errorCode"] as? Int == 404001)
            }
        }
    }

    @Test("credentials and permissions are enforced; bad JSON is a 400 with a reason")
    func refusals() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        let app = Application(router: HubRouter.make(hub.services))
        try await app.test(.router) { client in
            try await client.execute(uri: "/devices/d", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(try! json(response.body)["errorCode"] as? Int == 401002)
            }
            try await client.execute(uri: "/devices/d", method: .put, headers: [.authorization: hub.token("registryRead")],
                                     body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/devices/d", method: .put, headers: [.authorization: hub.token()],
                                     body: ByteBuffer(string: "{not json")) { response in
                #expect(response.status == .badRequest)
                #expect((try! json(response.body)["message"] as? String)?.contains("JSON") == true)
            }
            try await client.execute(uri: "/devices/a%2Fb", method: .put, headers: [.authorization: hub.token()],
                                     body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/devices/d", method: .put, headers: [.authorization: hub.token()],
                                     body: ByteBuffer(string: #"{"status":"sleeping"}"#)) { response in
                #expect(response.status == .badRequest)
            }
        }
    }

    @Test("bulk create and delete with per-device errors; statistics; list; modules")
    func bulkAndStatistics() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        let app = Application(router: HubRouter.make(hub.services))
        try await app.test(.router) { client in
            let auth: HTTPFields = [.authorization: hub.token()]
            let devices = (0..<5).map { #"{"id":"bulk\#($0)","importMode":"create"}"# }.joined(separator: ",")
            try await client.execute(uri: "/devices", method: .post, headers: auth, body: ByteBuffer(string: "[\(devices)]")) { response in
                #expect(response.status == .ok)
                #expect(try! json(response.body)["isSuccessful"] as? Bool == true)
            }
            let again = #"[{"id":"bulk0","importMode":"create"},{"id":"bulk9","importMode":"create","status":"disabled"}]"#
            try await client.execute(uri: "/devices", method: .post, headers: auth, body: ByteBuffer(string: again)) { response in
                #expect(response.status == .badRequest)
                let body = try json(response.body)
                #expect(body["isSuccessful"] as? Bool == false)
                let errors = try #require(body["errors"] as? [[String: Any]])
                #expect(errors.count == 1 && errors[0]["deviceId"] as? String == "bulk0")
                #expect(errors[0]["errorCode"] as? String == "DeviceAlreadyExists")
            }
            try await client.execute(uri: "/statistics/devices", method: .get, headers: auth) { response in
                let body = try json(response.body)
                #expect(body["totalDeviceCount"] as? Int == 6)
                #expect(body["disabledDeviceCount"] as? Int == 1)
            }
            try await client.execute(uri: "/statistics/service", method: .get, headers: auth) { response in
                #expect(try! json(response.body)["connectedDeviceCount"] as? Int == 0)
            }
            try await client.execute(uri: "/devices?top=3", method: .get, headers: auth) { response in
                let list = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [[String: Any]])
                #expect(list.map { $0["deviceId"] as? String } == ["bulk0", "bulk1", "bulk2"])
            }
            try await client.execute(uri: "/devices/bulk1/modules/m1", method: .put, headers: auth, body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .ok)
                #expect(try! json(response.body)["moduleId"] as? String == "m1")
            }
            try await client.execute(uri: "/devices/bulk1/modules", method: .get, headers: auth) { response in
                let list = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [[String: Any]])
                #expect(list.count == 1)
            }
            let deletes = #"[{"id":"bulk3","importMode":"delete"},{"id":"bulk4","importMode":"delete"}]"#
            try await client.execute(uri: "/devices", method: .post, headers: auth, body: ByteBuffer(string: deletes)) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/statistics/devices", method: .get, headers: auth) { response in
                #expect(try! json(response.body)["totalDeviceCount"] as? Int == 4)
            }
        }
    }
}
