import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import IoTHubProtocol
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// What a hostile probe of the REST API found: token scope, ids with NUL, empty `If-Match`, and the permission each
/// operation needs.
@Suite("REST hardening: token scope, ids, conditions, permissions")
struct RESTHardeningTests {
    func token(_ hub: TestHub, policy name: String, resource: String) -> String {
        let policy = hub.policies.first { $0.name == name }!
        return SASToken.generate(resourceURI: resource, key: policy.primaryKey,
                                 expiry: UInt64(Date().timeIntervalSince1970) + 3600, keyName: name, style: .serviceSDK).description
    }

    @Test("an owner-key token with sr=host/devices/B reaches B only: not A, not the list, twins of others or the monitor")
    func tokenScope() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        _ = try await TestDevice.create("A", on: hub)
        _ = try await TestDevice.create("B", on: hub)
        let scoped: HTTPFields = [.authorization: token(hub, policy: "iothubowner", resource: "hub.test/devices/B")]
        let app = Application(router: HubRouter.make(hub.services))
        try await app.test(.router) { client in
            try await client.execute(uri: "/devices/B", method: .get, headers: scoped) { #expect($0.status == .ok) }
            let refused: [(String, HTTPRequest.Method, String?)] = [
                ("/devices/A", .get, nil), ("/devices", .get, nil), ("/devices/A", .delete, nil),
                ("/devices/C", .put, #"{"deviceId":"C"}"#), ("/twins/A", .get, nil), ("/devices/query", .post, #"{"query":"SELECT * FROM devices"}"#),
                ("/monitor/events", .get, nil), ("/statistics/devices", .get, nil),
            ]
            for (uri, method, body) in refused {
                try await client.execute(uri: uri, method: method, headers: scoped, body: body.map { ByteBuffer(string: $0) }) {
                    #expect($0.status == .unauthorized, "\(method) \(uri)")
                }
            }
            // A is untouched.
            #expect(try await hub.store.device(DeviceIdentity(deviceId: "A")) != nil)
            #expect(try await hub.store.device(DeviceIdentity(deviceId: "C")) == nil)
        }
    }

    @Test("ids are validated on every path: a NUL or other forbidden character is a 400, never another device")
    func idsValidated() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        _ = try await TestDevice.create("probeA", on: hub)
        let auth: HTTPFields = [.authorization: hub.token()]
        let app = Application(router: HubRouter.make(hub.services))
        try await app.test(.router) { client in
            for uri in ["/devices/probeA%00", "/twins/probeA%00", "/devices/probeA%00/modules", "/devices/probeA/modules/m%00",
                        "/twins/probeA%0A", "/devices/probe%20A", "/devices/probeA%00/messages/deviceBound"] {
                let methods: [HTTPRequest.Method] = uri.hasSuffix("%00") && !uri.hasPrefix("/twins") ? [.get, .delete] : [.get]
                for method in methods {
                    try await client.execute(uri: uri, method: method, headers: auth) { response in
                        #expect(response.status == .badRequest, "\(method) \(uri)")
                    }
                }
            }
            try await client.execute(uri: "/devices/probeA", method: .get, headers: auth) { #expect($0.status == .ok) }
        }
        // The store itself never truncates at a NUL.
        #expect(try await hub.store.device(DeviceIdentity(deviceId: "probeA\u{0}")) == nil)
        #expect(try await hub.store.device(DeviceIdentity(deviceId: "probeA\u{0}x")) == nil)
    }

    @Test("If-Match with an empty etag is a condition nothing meets: 412 on devices, twins and deletes")
    func emptyIfMatch() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        _ = try await TestDevice.create("d1", on: hub)
        let app = Application(router: HubRouter.make(hub.services))
        try await app.test(.router) { client in
            for value in ["\"\"", "W/\"\""] {
                let headers: HTTPFields = [.authorization: hub.token(), .ifMatch: value]
                try await client.execute(uri: "/devices/d1", method: .put, headers: headers,
                                         body: ByteBuffer(string: #"{"deviceId":"d1","status":"disabled"}"#)) {
                    #expect($0.status == .preconditionFailed, "PUT device, If-Match: \(value)")
                }
                try await client.execute(uri: "/twins/d1", method: .patch, headers: headers,
                                         body: ByteBuffer(string: #"{"tags":{"x":1}}"#)) {
                    #expect($0.status == .preconditionFailed, "PATCH twin, If-Match: \(value)")
                }
                try await client.execute(uri: "/devices/d1", method: .delete, headers: headers) {
                    #expect($0.status == .preconditionFailed, "DELETE, If-Match: \(value)")
                }
            }
            // `*` stays unconditional.
            try await client.execute(uri: "/twins/d1", method: .patch, headers: [.authorization: hub.token(), .ifMatch: "\"*\""],
                                     body: ByteBuffer(string: #"{"tags":{"x":1}}"#)) { #expect($0.status == .ok) }
        }
        let record = try #require(try await hub.store.device(DeviceIdentity(deviceId: "d1")))
        #expect(record.status == .enabled)
    }

    @Test("permissions as IoT Hub documents them: twins and methods need ServiceConnect, queries RegistryRead or ServiceConnect")
    func permissions() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        _ = try await TestDevice.create("d1", on: hub)
        let app = Application(router: HubRouter.make(hub.services))
        let query = #"{"query":"SELECT * FROM devices"}"#
        // (policy, method, uri, body, expected status)
        let cases: [(String, HTTPRequest.Method, String, String?, HTTPResponse.Status)] = [
            ("service", .get, "/twins/d1", nil, .ok),
            ("service", .patch, "/twins/d1", #"{"properties":{"desired":{"a":1}}}"#, .ok),
            ("service", .post, "/devices/query", query, .ok),
            ("service", .get, "/devices/d1", nil, .unauthorized),
            ("service", .put, "/devices/d2", #"{"deviceId":"d2"}"#, .unauthorized),
            ("registryRead", .get, "/twins/d1", nil, .unauthorized),
            ("registryRead", .patch, "/twins/d1", #"{"tags":{"a":1}}"#, .unauthorized),
            ("registryRead", .post, "/devices/query", query, .ok),
            ("registryRead", .get, "/devices/d1", nil, .ok),
            ("registryRead", .delete, "/devices/d1", nil, .unauthorized),
            ("registryReadWrite", .put, "/devices/d3", #"{"deviceId":"d3"}"#, .ok),
            ("device", .get, "/devices/d1", nil, .unauthorized),
            ("device", .get, "/twins/d1", nil, .unauthorized),
        ]
        try await app.test(.router) { client in
            for (policy, method, uri, body, status) in cases {
                try await client.execute(uri: uri, method: method, headers: [.authorization: hub.token(policy)],
                                         body: body.map { ByteBuffer(string: $0) }) {
                    #expect($0.status == status, "\(policy): \(method) \(uri)")
                }
            }
        }
    }
}
