import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IoTHubProtocol
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

@Suite("REST: device HTTPS API and telemetry monitor")
struct DeviceMessagesControllerTests {
    func deviceToken(_ hub: TestHub, _ record: DeviceRecord) -> String {
        guard case .sas(let key, _) = record.authentication else { return "" }
        return SASToken.generate(resource: record.identity.sasResource(hostName: hub.services.hostName), key: key,
                                 expiry: UInt64(Date().timeIntervalSince1970) + 600).description
    }

    @Test("device paths as IoT Hub accepts them: deviceBound in any case, a slash before the query, skn= empty")
    func pathSpellingsAndEmptyKeyName() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        let record = try await hub.services.registry.create(.init(identity: DeviceIdentity(deviceId: "Path-Dev")))
        let app = Application(router: HubRouter.make(hub.services))
        // What the C SDK sends over HTTPS: a device token ending in an empty key name.
        let token = deviceToken(hub, record) + "&skn="
        try await app.test(.router) { client in
            for path in ["/devices/Path-Dev/messages/devicebound?api-version=2016-11-14",
                         "/devices/Path-Dev/messages/DEVICEBOUND", "/devices/Path-Dev/messages/deviceBound/"] {
                try await client.execute(uri: path, method: .get, headers: [.authorization: token]) { response in
                    #expect(response.status == .noContent, "\(path)")
                }
            }
            try await client.execute(uri: "/devices/Path-Dev/messages/events/?api-version=2016-11-14", method: .post,
                                     headers: [.authorization: token], body: ByteBuffer(string: "x")) { response in
                #expect(response.status == .noContent)
            }
            // Ids stay case-sensitive: another spelling of the device is another device.
            try await client.execute(uri: "/devices/path-dev/messages/devicebound", method: .get,
                                     headers: [.authorization: token]) { response in
                #expect(response.status == .unauthorized)
            }
        }
        #expect(try await hub.store.events(after: 0, deviceId: "Path-Dev", limit: 10).count == 1)
        #expect(DevicePathNormalizer<NotFoundProbe>.normalize("/devices/d/messages/deviceBound?x=1") == nil)
        #expect(DevicePathNormalizer<NotFoundProbe>.normalize("/") == nil)
        #expect(DevicePathNormalizer<NotFoundProbe>.normalize("/devices/d/files/?api-version=1")
                == "/devices/d/files?api-version=1")
        #expect(DevicePathNormalizer<NotFoundProbe>.normalize("/devices/devicebound/messages/Devicebound/t")
                == "/devices/devicebound/messages/deviceBound/t")
    }

    /// A responder type to name ``DevicePathNormalizer``'s static function with.
    struct NotFoundProbe: HTTPResponder {
        func respond(to request: Request, context: HubRequestContext) async throws -> Response { Response(status: .notFound) }
    }

    @Test("telemetry over HTTPS is stamped, stored and streamed by the monitor endpoint")
    func telemetry() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        let record = try await hub.services.registry.create(.init(identity: DeviceIdentity(deviceId: "http-dev")))
        let app = Application(router: HubRouter.make(hub.services))
        try await app.test(.router) { client in
            var headers: HTTPFields = [.authorization: deviceToken(hub, record), .contentType: "application/json"]
            headers[HTTPField.Name("iothub-app-level")!] = "warning"
            headers[HTTPField.Name("iothub-messageid")!] = "msg-7"
            try await client.execute(uri: "/devices/http-dev/messages/events?api-version=2020-09-30", method: .post,
                                     headers: headers, body: ByteBuffer(string: #"{"temp":30}"#)) { response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/devices/http-dev/messages/events", method: .post,
                                     headers: [.authorization: "SharedAccessSignature sr=x&sig=y&se=1"], body: ByteBuffer(string: "x")) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/devices/http-dev/messages/events", method: .post,
                                     headers: [.authorization: deviceToken(hub, record)],
                                     body: ByteBuffer(bytes: [0xFF, 0x00, 0x80])) { response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/monitor/events?fromStart=true&limit=2&deviceId=http-dev", method: .get,
                                     headers: [.authorization: hub.token("service")]) { response in
                #expect(response.status == .ok)
                let lines = String(buffer: response.body).split(separator: "\n")
                #expect(lines.count == 2)
                let first = try JSONValue(parsing: String(lines[0]))
                #expect(first["deviceId"] == "http-dev" && first["body"] == #"{"temp":30}"#)
                #expect(first["properties"]?["level"] == "warning")
                #expect(first["systemProperties"]?["message-id"] == "msg-7")
                #expect(first["systemProperties"]?["content-type"] == "application/json")
                #expect(first["systemProperties"]?["iothub-connection-device-id"] == "http-dev")
                let second = try JSONValue(parsing: String(lines[1]))
                #expect(second["bodyEncoding"] == "base64" && second["body"] == "/wCA")
            }
            try await client.execute(uri: "/monitor/events?fromStart=true&limit=1", method: .get,
                                     headers: [.authorization: hub.token("registryRead")]) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }

    @Test("C2D over HTTPS: receive with lock token, complete, abandon (redelivery), reject; 204 when empty")
    func cloudToDevice() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        let record = try await hub.services.registry.create(.init(identity: DeviceIdentity(deviceId: "c2d-http")))
        let app = Application(router: HubRouter.make(hub.services))
        try await app.test(.router) { client in
            var send: HTTPFields = [.authorization: hub.token("service")]
            send[HTTPField.Name("iothub-app-k")!] = "v"
            send[HTTPField.Name("iothub-ack")!] = "full"
            try await client.execute(uri: "/devices/c2d-http/messages/deviceBound", method: .post, headers: send,
                                     body: ByteBuffer(string: "one")) { response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/devices/c2d-http/messages/deviceBound", method: .post,
                                     headers: [.authorization: hub.token("service")], body: ByteBuffer(string: "two")) { response in
                #expect(response.status == .noContent)
            }
            // A device token cannot send; a bad ack mode is a 400.
            try await client.execute(uri: "/devices/c2d-http/messages/deviceBound", method: .post,
                                     headers: [.authorization: deviceToken(hub, record)], body: ByteBuffer(string: "x")) { response in
                #expect(response.status == .unauthorized)
            }
            var badAck: HTTPFields = [.authorization: hub.token("service")]
            badAck[HTTPField.Name("iothub-ack")!] = "sometimes"
            try await client.execute(uri: "/devices/c2d-http/messages/deviceBound", method: .post, headers: badAck,
                                     body: ByteBuffer(string: "x")) { response in
                #expect(response.status == .badRequest)
            }
            let auth: HTTPFields = [.authorization: deviceToken(hub, record)]
            var lock = ""
            try await client.execute(uri: "/devices/c2d-http/messages/deviceBound", method: .get, headers: auth) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "one")
                #expect(response.headers[HTTPField.Name("iothub-app-k")!] == "v")
                #expect(response.headers[HTTPField.Name("iothub-deliverycount")!] == "1")
                lock = (response.headers[.eTag] ?? "").replacingOccurrences(of: "\"", with: "")
            }
            try await client.execute(uri: "/devices/c2d-http/messages/deviceBound/\(lock)", method: .delete, headers: auth) { response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/devices/c2d-http/messages/deviceBound/\(lock)", method: .delete, headers: auth) { response in
                #expect(response.status == .preconditionFailed)
            }
            try await client.execute(uri: "/devices/c2d-http/messages/deviceBound", method: .get, headers: auth) { response in
                #expect(String(buffer: response.body) == "two")
                lock = (response.headers[.eTag] ?? "").replacingOccurrences(of: "\"", with: "")
            }
            try await client.execute(uri: "/devices/c2d-http/messages/deviceBound/\(lock)/abandon", method: .post, headers: auth) { response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/devices/c2d-http/messages/deviceBound", method: .get, headers: auth) { response in
                #expect(String(buffer: response.body) == "two")
                #expect(response.headers[HTTPField.Name("iothub-deliverycount")!] == "2")
                lock = (response.headers[.eTag] ?? "").replacingOccurrences(of: "\"", with: "")
            }
            try await client.execute(uri: "/devices/c2d-http/messages/deviceBound/\(lock)?reject", method: .delete, headers: auth) { response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/devices/c2d-http/messages/deviceBound", method: .get, headers: auth) { response in
                #expect(response.status == .noContent)
            }
        }
        #expect(try await hub.store.pendingCloudToDeviceCount(record.identity) == 0)
        #expect(hub.services.cloudToDevice.takeFeedback().map(\.status) == [.success])
    }
}

@Suite("REST: metrics")
struct MetricsEndpointTests {
    @Test("/metrics counts messages in, twin operations and errors by code")
    func metrics() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        let record = try await hub.services.registry.create(.init(identity: DeviceIdentity(deviceId: "metered")))
        _ = try await hub.services.events.ingest(IoTHubMessage(text: "x"), from: record.identity, authentication: .sas,
                                                 generationId: "1", protocol: "mqtt")
        _ = try await hub.services.twins.patchReported(record.identity, body: Array(#"{"a":1}"#.utf8))
        hub.services.presence.register(RecordingSession(record.identity))
        let app = Application(router: HubRouter.make(hub.services))
        try await app.test(.router) { client in
            try await client.execute(uri: "/devices/nobody", method: .get, headers: [.authorization: hub.token()]) { _ in }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"iothub_messages_in_total{protocol="mqtt"} 1"#), "\(text)")
                #expect(text.contains(#"iothub_twin_operations_total{operation="reported_patch"} 1"#))
                #expect(text.contains(#"iothub_errors_total{protocol="https",code="DeviceNotFound"} 1"#) ||
                        text.contains(#"iothub_errors_total{code="DeviceNotFound",protocol="https"} 1"#))
                #expect(text.contains("iothub_connected_devices 1"))
            }
        }
    }
}
