import Foundation
import IoTHubProtocol
import Logging
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

@Suite("registry service")
struct RegistryServiceTests {
    func makeService() throws -> (RegistryService, SQLiteHubStore, PresenceDirectory) {
        let store = try SQLiteHubStore(path: TestProcess.temporaryDirectory() + "/hub.sqlite", durability: .normal)
        let presence = PresenceDirectory()
        return (RegistryService(store: store, presence: presence, logger: Logger(label: "test")), store, presence)
    }

    @Test("create generates SAS keys; update keeps them unless new ones are given")
    func keys() async throws {
        let (registry, store, _) = try makeService()
        defer { store.close() }
        let me = DeviceIdentity(deviceId: "k1")
        let created = try await registry.create(.init(identity: me))
        guard case .sas(let primary, let secondary) = created.authentication else { Issue.record("not sas"); return }
        #expect(primary.bytes.count == 32 && primary != secondary)
        let updated = try await registry.update(.init(identity: me, statusReason: "x"), condition: .matches(created.etag))
        #expect(updated.authentication == created.authentication)
        let newKey = SharedAccessKey.random().base64
        let rekeyed = try await registry.update(.init(identity: me, authentication: .sas(primaryKey: newKey, secondaryKey: nil)),
                                                condition: .any)
        guard case .sas(let primary2, let secondary2) = rekeyed.authentication else { Issue.record("not sas"); return }
        #expect(primary2.base64 == newKey && secondary2 == secondary)
    }

    @Test("bad ids, keys and thumbprints are refused with 400004-class errors")
    func validation() async throws {
        let (registry, store, _) = try makeService()
        defer { store.close() }
        await #expect { try await registry.create(.init(identity: DeviceIdentity(deviceId: "a/b"))) } throws: {
            ($0 as? HubError)?.code == .argumentInvalid
        }
        await #expect {
            try await registry.create(.init(identity: DeviceIdentity(deviceId: "k"), authentication: .sas(primaryKey: "short", secondaryKey: nil)))
        } throws: { ($0 as? HubError)?.code == .argumentInvalid }
        await #expect {
            try await registry.create(.init(identity: DeviceIdentity(deviceId: "t"), authentication: .selfSigned(primaryThumbprint: "XYZ", secondaryThumbprint: nil)))
        } throws: { ($0 as? HubError)?.code == .argumentInvalid }
        let thumb = String(repeating: "ab:", count: 19) + "ab"
        let selfSigned = try await registry.create(.init(identity: DeviceIdentity(deviceId: "t"),
                                                         authentication: .selfSigned(primaryThumbprint: thumb, secondaryThumbprint: nil)))
        #expect(selfSigned.authentication == .selfSigned(primaryThumbprint: String(repeating: "AB", count: 20), secondaryThumbprint: nil))
    }

    @Test("disabling or deleting a connected device ends its session and its modules' sessions")
    func disconnects() async throws {
        let (registry, store, presence) = try makeService()
        defer { store.close() }
        let device = DeviceIdentity(deviceId: "live"), module = DeviceIdentity(deviceId: "live", moduleId: "m")
        _ = try await registry.create(.init(identity: device))
        _ = try await registry.create(.init(identity: module))
        let deviceSession = RecordingSession(device), moduleSession = RecordingSession(module)
        presence.register(deviceSession)
        presence.register(moduleSession)
        _ = try await registry.update(.init(identity: device, status: .disabled), condition: .any)
        #expect(deviceSession.ends == [.disabled])
        #expect(moduleSession.ends == [.disabled], "modules follow their device")
        try await registry.delete(device, condition: .any)
        #expect(deviceSession.ends == [.disabled, .deleted])
        #expect(moduleSession.ends == [.disabled, .deleted])
        await #expect { try await registry.get(module) } throws: { ($0 as? HubError)?.code == .moduleNotFound }
    }

    @Test("a second session for the same identity takes over")
    func takeover() {
        let presence = PresenceDirectory()
        let first = RecordingSession(DeviceIdentity(deviceId: "x")), second = RecordingSession(DeviceIdentity(deviceId: "x"))
        presence.register(first)
        presence.register(second)
        #expect(first.ends == [.takenOver])
        #expect(!presence.unregister(first))
        #expect(presence.session(for: DeviceIdentity(deviceId: "x")) === second)
        #expect(presence.unregister(second))
        #expect(presence.count == 0)
    }
}
