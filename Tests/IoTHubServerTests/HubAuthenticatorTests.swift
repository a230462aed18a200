import Foundation
import IoTHubProtocol
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

@Suite("hub authenticator")
struct HubAuthenticatorTests {
    let host = "hub.test"
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func setUp() async throws -> (HubAuthenticator, SQLiteHubStore, SharedAccessKey, [AccessPolicy]) {
        let store = try SQLiteHubStore(path: TestProcess.temporaryDirectory() + "/hub.sqlite", durability: .normal)
        let key = SharedAccessKey.random()
        _ = try await store.createDevice(DeviceRecord(identity: DeviceIdentity(deviceId: "d1"),
                                                      authentication: .sas(primaryKey: key, secondaryKey: .random())), twin: "{}")
        _ = try await store.createDevice(DeviceRecord(identity: DeviceIdentity(deviceId: "off"), status: .disabled,
                                                      authentication: .sas(primaryKey: key, secondaryKey: key)), twin: "{}")
        let policies = AccessPolicy.defaults()
        return (HubAuthenticator(hostName: host, store: store, policies: policies), store, key, policies)
    }

    func token(_ uri: String, _ key: SharedAccessKey, expiry: TimeInterval = 3600, keyName: String? = nil) -> String {
        SASToken.generate(resourceURI: uri, key: key, expiry: UInt64(now.timeIntervalSince1970 + expiry), keyName: keyName).description
    }

    @Test("device tokens: right key passes; wrong key, expired, other device, disabled and unknown fail")
    func devices() async throws {
        let (auth, store, key, policies) = try await setUp()
        defer { store.close() }
        let me = DeviceIdentity(deviceId: "d1")
        _ = try await auth.authenticateDevice(me, token: token("hub.test/devices/d1", key), now: now)
        // A policy with DeviceConnect may sign device tokens.
        let devicePolicy = policies.first { $0.name == "device" }!
        _ = try await auth.authenticateDevice(me, token: token("hub.test/devices/d1", devicePolicy.primaryKey, keyName: "device"), now: now)
        let failures: [(DeviceIdentity, String?, IoTHubErrorCode)] = [
            (me, token("hub.test/devices/d1", .random()), .iotHubUnauthorizedAccess),
            (me, token("hub.test/devices/d1", key, expiry: -1), .iotHubUnauthorizedAccess),
            (me, token("hub.test/devices/d2", key), .iotHubUnauthorizedAccess),
            (me, token("other.host/devices/d1", key), .iotHubUnauthorizedAccess),
            (me, token("hub.test/devices/d1", policies[1].primaryKey, keyName: "service"), .iotHubUnauthorizedAccess),
            (me, nil, .iotHubUnauthorizedAccess),
            (me, "garbage", .iotHubUnauthorizedAccess),
            (DeviceIdentity(deviceId: "ghost"), token("hub.test/devices/ghost", key), .iotHubUnauthorizedAccess),
            (DeviceIdentity(deviceId: "off"), token("hub.test/devices/off", key), .deviceDisabled),
        ]
        for (identity, text, code) in failures {
            await #expect { try await auth.authenticateDevice(identity, token: text, now: now) } throws: {
                ($0 as? HubError)?.code == code
            }
        }
    }

    @Test("service tokens: permissions are enforced per policy")
    func services() async throws {
        let (auth, store, _, policies) = try await setUp()
        defer { store.close() }
        let owner = policies[0], service = policies[1], registryRead = policies[3]
        let ownerToken = token("hub.test", owner.primaryKey, keyName: owner.name)
        for permission in Permission.allCases {
            #expect(try auth.authorizeService(ownerToken, requires: permission, resource: "/devices", now: now).name == "iothubowner")
        }
        let secondaryKeyToken = token("hub.test", owner.secondaryKey, keyName: owner.name)
        _ = try auth.authorizeService(secondaryKeyToken, requires: .registryWrite, resource: "/devices/d1", now: now)
        _ = try auth.authorizeService(token("hub.test/devices", service.primaryKey, keyName: "service"), requires: .serviceConnect,
                                      resource: "/devices/d1/messages/deviceBound", now: now)
        let refused: [(String?, Permission)] = [
            (token("hub.test", service.primaryKey, keyName: "service"), .registryRead),
            (token("hub.test", registryRead.primaryKey, keyName: "registryRead"), .registryWrite),
            (token("hub.test", owner.primaryKey), .registryRead),
            (token("hub.test", owner.primaryKey, keyName: "nobody"), .registryRead),
            (token("hub.test", service.primaryKey, keyName: "iothubowner"), .registryRead),
            (token("hub.test", owner.primaryKey, expiry: -5, keyName: owner.name), .registryRead),
            (token("evil.test", owner.primaryKey, keyName: owner.name), .registryRead),
            (nil, .registryRead),
        ]
        for (header, permission) in refused {
            #expect { try auth.authorizeService(header, requires: permission, resource: "/devices", now: now) } throws: {
                ($0 as? HubError)?.code == .iotHubUnauthorizedAccess
            }
        }
    }

    @Test("a policy token reaches only what lies below its sr: a token for devices/B cannot touch A, the registry or the monitor")
    func serviceTokenScope() async throws {
        let (auth, store, _, policies) = try await setUp()
        defer { store.close() }
        let owner = policies[0]
        let scoped = token("hub.test/devices/B", owner.primaryKey, keyName: owner.name)
        _ = try auth.authorizeService(scoped, requires: .registryRead, resource: "/devices/B", now: now)
        _ = try auth.authorizeService(scoped, requires: .registryWrite, resource: "/devices/B/modules/m1", now: now)
        for resource in ["/devices/A", "/devices", "/devices/query", "/devices/BB", "/twins/A", "/twins/B", "/monitor", ""] {
            #expect(throws: HubError.self, "\(resource)") {
                try auth.authorizeService(scoped, requires: .registryRead, resource: resource, now: now)
            }
        }
        // A hub-wide token reaches everything its permissions allow.
        _ = try auth.authorizeService(token("hub.test", owner.primaryKey, keyName: owner.name), requires: .registryRead,
                                      resource: "/devices/A", now: now)
        // Any one of several permissions is enough (queries take RegistryRead or ServiceConnect).
        _ = try auth.authorizeService(token("hub.test", policies[1].primaryKey, keyName: "service"),
                                      requires: [.registryRead, .serviceConnect], resource: "/devices/query", now: now)
    }

    @Test("a DeviceConnect policy token scoped to the hub or to /devices authenticates any device, as gateways use it")
    func hubWideDevicePolicyTokens() async throws {
        let (auth, store, key, policies) = try await setUp()
        defer { store.close() }
        let device = policies.first { $0.name == "device" }!
        let me = DeviceIdentity(deviceId: "d1")
        for scope in ["hub.test", "hub.test/devices", "hub.test/devices/d1"] {
            _ = try await auth.authenticateDevice(me, token: token(scope, device.primaryKey, keyName: "device"), now: now)
        }
        for scope in ["hub.test/devices/d2", "hub.test/dev", "other.test"] {
            await #expect(throws: HubError.self, "\(scope)") {
                try await auth.authenticateDevice(me, token: self.token(scope, device.primaryKey, keyName: "device"), now: self.now)
            }
        }
        // A device key signs for its own resource only, never for a prefix.
        await #expect(throws: HubError.self) {
            try await auth.authenticateDevice(me, token: self.token("hub.test/devices", key), now: self.now)
        }
    }

    @Test("a module cannot authenticate while its device is disabled")
    func moduleOfDisabledDevice() async throws {
        let (auth, store, key, _) = try await setUp()
        defer { store.close() }
        let module = DeviceIdentity(deviceId: "off", moduleId: "m1")
        _ = try await store.createDevice(DeviceRecord(identity: module, authentication: .sas(primaryKey: key, secondaryKey: key)),
                                         twin: "{}")
        await #expect { try await auth.authenticateDevice(module, token: token("hub.test/devices/off/modules/m1", key), now: now) }
            throws: { ($0 as? HubError)?.code == .deviceDisabled }
    }

    @Test("a SAS session reports when its token expires")
    func tokenExpiryReported() async throws {
        let (auth, store, key, _) = try await setUp()
        defer { store.close() }
        let result = try await auth.authenticateDevice(DeviceIdentity(deviceId: "d1"), token: token("hub.test/devices/d1", key, expiry: 90),
                                                       certificate: nil, now: now)
        #expect(result.tokenExpiry == Date(timeIntervalSince1970: now.timeIntervalSince1970 + 90))
        #expect(result.method == .sas)
    }
}
