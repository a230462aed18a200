import Foundation
import IoTHubProtocol
import Testing
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
            #expect(try auth.authorizeService(ownerToken, requires: permission, now: now).name == "iothubowner")
        }
        let secondaryKeyToken = token("hub.test", owner.secondaryKey, keyName: owner.name)
        _ = try auth.authorizeService(secondaryKeyToken, requires: .registryWrite, now: now)
        _ = try auth.authorizeService(token("hub.test/devices", service.primaryKey, keyName: "service"), requires: .serviceConnect, now: now)
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
            #expect { try auth.authorizeService(header, requires: permission, now: now) } throws: {
                ($0 as? HubError)?.code == .iotHubUnauthorizedAccess
            }
        }
    }
}
