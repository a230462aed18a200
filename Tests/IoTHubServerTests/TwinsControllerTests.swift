import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IoTHubProtocol
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

@Suite("REST: twins and methods")
struct TwinsControllerTests {
    func object(_ buffer: ByteBuffer) throws -> JSONObject {
        guard case .object(let object) = try JSONValue(parsing: Array(buffer: buffer)) else { throw HubError.invalid("not an object") }
        return object
    }

    @Test("get, patch and replace with etags; desired patches reach the connected device; reported patches show up")
    func twins() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        let me = DeviceIdentity(deviceId: "t1")
        _ = try await hub.services.registry.create(.init(identity: me))
        let session = RecordingSession(me)
        hub.services.presence.register(session)
        let app = Application(router: HubRouter.make(hub.services))
        try await app.test(.router) { client in
            let auth: HTTPFields = [.authorization: hub.token()]
            var etag = ""
            try await client.execute(uri: "/twins/t1?api-version=2021-04-12", method: .get, headers: auth) { response in
                #expect(response.status == .ok)
                let twin = try object(response.body)
                #expect(twin["deviceId"] == "t1" && twin["version"] == 1)
                etag = try #require(twin["etag"]?.stringValue)
                #expect(twin["properties"]?["desired"]?["$version"] == 1)
            }
            var patch = auth
            patch[.ifMatch] = "\"\(etag)\""
            let body = #"{"tags":{"floor":3},"properties":{"desired":{"setpoint":21.5,"mode":{"fan":"auto"}}}}"#
            try await client.execute(uri: "/twins/t1", method: .patch, headers: patch, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .ok)
                let twin = try object(response.body)
                #expect(twin["tags"]?["floor"] == 3)
                #expect(twin["properties"]?["desired"]?["setpoint"] == 21.5)
                #expect(twin["properties"]?["desired"]?["$version"] == 2)
                #expect(twin["properties"]?["desired"]?["$metadata"]?["setpoint"]?["$lastUpdatedVersion"] == 2)
            }
            #expect(session.patches.count == 1)
            #expect(session.patches.first?.1 == 2)
            let notified = try JSONValue(parsing: session.patches.first?.0 ?? "")
            #expect(notified["setpoint"] == 21.5 && notified["$version"] == 2)
            // The old etag is stale now.
            try await client.execute(uri: "/twins/t1", method: .patch, headers: patch, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .preconditionFailed)
            }
            // Reported properties from the device side appear in the service view.
            let version = try await hub.services.twins.patchReported(me, body: Array(#"{"firmware":"1.2"}"#.utf8))
            #expect(version == 2)
            try await client.execute(uri: "/twins/t1", method: .put, headers: auth,
                                     body: ByteBuffer(string: #"{"properties":{"desired":{"only":true}}}"#)) { response in
                #expect(response.status == .ok)
                let twin = try object(response.body)
                #expect(twin["properties"]?["desired"]?["setpoint"] == nil)
                #expect(twin["properties"]?["desired"]?["only"] == true)
                #expect(twin["properties"]?["reported"]?["firmware"] == "1.2")
                #expect(twin["tags"]?["floor"] == 3)
            }
            // Bad JSON and broken limits are 400 and change nothing.
            try await client.execute(uri: "/twins/t1", method: .patch, headers: auth, body: ByteBuffer(string: "{oops")) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/twins/t1", method: .patch, headers: auth,
                                     body: ByteBuffer(string: #"{"properties":{"desired":{"bad.key":1}}}"#)) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/twins/ghost", method: .get, headers: auth) { response in
                #expect(response.status == .notFound)
            }
        }
        let deviceView = try JSONValue(parsing: try await hub.services.twins.deviceView(me))
        #expect(deviceView["desired"]?["only"] == true && deviceView["reported"]?["firmware"] == "1.2")
        #expect(deviceView["desired"]?["$metadata"] == nil)
    }

    @Test("direct method over REST: 200 with the device's answer; 404103 when offline")
    func methods() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        let me = DeviceIdentity(deviceId: "m1")
        _ = try await hub.services.registry.create(.init(identity: me))
        let app = Application(router: HubRouter.make(hub.services))
        try await app.test(.router) { client in
            let auth: HTTPFields = [.authorization: hub.token("service")]
            let call = #"{"methodName":"reboot","payload":{"delay":2},"responseTimeoutInSeconds":10}"#
            try await client.execute(uri: "/twins/m1/methods", method: .post, headers: auth, body: ByteBuffer(string: call)) { response in
                #expect(response.status == .notFound)
                let error = try object(response.body)
                #expect(error["errorCode"] == 404103)
            }
            let session = RecordingSession(me)
            hub.services.presence.register(session)
            let answer = Task {
                while session.methods.isEmpty { try await Task.sleep(for: .milliseconds(2)) }
                let request = session.methods[0]
                #expect(request.name == "reboot" && (try? JSONValue(parsing: request.payload)) == ["delay": 2])
                hub.services.methods.complete(DirectMethodResponse(status: 202, requestId: request.requestId,
                                                                   payload: Array(#"{"ok":true}"#.utf8)), from: me)
            }
            try await client.execute(uri: "/twins/m1/methods", method: .post, headers: auth, body: ByteBuffer(string: call)) { response in
                #expect(response.status == .ok)
                let result = try object(response.body)
                #expect(result["status"] == 202 && result["payload"] == ["ok": true])
            }
            try await answer.value
            try await client.execute(uri: "/twins/m1/methods", method: .post, headers: auth,
                                     body: ByteBuffer(string: #"{"methodName":"x","responseTimeoutInSeconds":1}"#)) { response in
                #expect(response.status == .badRequest)
            }
        }
    }
}
