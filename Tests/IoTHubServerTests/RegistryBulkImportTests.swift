import Foundation
import IoTHubProtocol
import Logging
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// The bulk registry call in one transaction: every operation still succeeds or fails on its own, with the errors
/// it had when each was its own transaction, and later operations see what earlier ones did.
@Suite("bulk registry import")
struct RegistryBulkImportTests {
    @Test("each operation fails on its own, with the single-call error, and leaves no trace")
    func perOperationResults() async throws {
        let (registry, store, presence) = try RegistryServiceTests().makeService()
        defer { store.close() }
        let a = DeviceIdentity(deviceId: "a")
        _ = try await registry.create(.init(identity: a))
        let session = RecordingSession(a)
        presence.register(session)
        func request(_ id: String, moduleId: String? = nil, status: DeviceStatus? = nil,
                     key: String? = nil) -> RegistryService.Request {
            .init(identity: DeviceIdentity(deviceId: id, moduleId: moduleId), status: status,
                  authentication: key.map { .sas(primaryKey: $0, secondaryKey: nil) })
        }
        func op(_ mode: RegistryImport.Mode, _ request: RegistryService.Request?, id: String? = nil,
                eTag: String? = nil) -> RegistryImport {
            RegistryImport(identity: request?.identity ?? DeviceIdentity(deviceId: id ?? "?"), mode: mode,
                           request: request, eTag: eTag)
        }
        let failures = try await registry.apply([
            op(.create, request("new-1")),                                  // 0 created
            op(.create, request("a")),                                      // 1 409001
            op(.update, request("b")),                                      // 2 createOrUpdate: created
            op(.update, request("a", status: .disabled)),                   // 3 createOrUpdate: updated, session ends
            op(.updateIfMatchETag, request("a"), eTag: "\"stale\""),        // 4 412002
            op(.delete, nil, id: "ghost"),                                  // 5 404001
            op(.create, request("ghost", moduleId: "m1")),                  // 6 404001: no such device
            op(.create, request("k", key: "short")),                        // 7 400004: bad key
            op(.create, nil, id: "nobody"),                                 // 8 400004: no body
            op(.create, request("new-1")),                                  // 9 409001: 0 is visible
            op(.delete, nil, id: "new-1"),                                  // 10 deleted
            op(.create, request("a/b")),                                    // 11 400004: bad id
        ])
        #expect(failures.map(\.index) == [1, 4, 5, 6, 7, 8, 9, 11])
        #expect(failures.map(\.error.code) == [.deviceAlreadyExists, .preconditionFailed, .deviceNotFound,
                                               .deviceNotFound, .argumentInvalid, .argumentInvalid,
                                               .deviceAlreadyExists, .argumentInvalid])
        #expect(failures[0].error.message == "device 'a' already exists; update it with If-Match instead")
        #expect(failures[3].error.message == "device 'ghost' is not registered; create it first")
        let devices = try await store.devices(after: nil, limit: 100)
        #expect(devices.map(\.identity.deviceId) == ["a", "b"])
        #expect(devices.first?.status == .disabled && devices.first?.version == 2)
        #expect(session.ends == [.disabled])
    }

    @Test("the batch write gives the results of one commit per change")
    func sameAsOneByOne() async throws {
        let directory = TestProcess.temporaryDirectory()
        let batched = try SQLiteHubStore(path: directory + "/batched.sqlite", durability: .normal)
        let single = try SQLiteHubStore(path: directory + "/single.sqlite", durability: .normal)
        defer { batched.close(); single.close() }
        @Sendable func record(_ id: String, moduleId: String? = nil) -> DeviceRecord {
            DeviceRecord(identity: DeviceIdentity(deviceId: id, moduleId: moduleId), generationId: "g-\(id)",
                         status: .enabled, statusReason: nil, statusUpdatedTime: Date(timeIntervalSince1970: 0),
                         authentication: .certificateAuthority, isEdgeDevice: false, managedBy: nil)
        }
        let disable: @Sendable (inout DeviceRecord) throws -> Void = { $0.status = .disabled }
        let refuse: @Sendable (inout DeviceRecord) throws -> Void = { _ in throw HubError.invalid("refused") }
        let changes: [RegistryChange] = [
            .create(record("d1"), twin: "{}"),
            .create(record("d1"), twin: "{}"),
            .create(record("d1", moduleId: "m"), twin: "{}"),
            .create(record("d9", moduleId: "m"), twin: "{}"),
            .update(DeviceIdentity(deviceId: "d1"), condition: .matches("stale"), transform: disable),
            .update(DeviceIdentity(deviceId: "d1"), condition: .any, transform: refuse),
            .createOrUpdate(DeviceIdentity(deviceId: "d2"), create: { (record("d2"), "{}") }, transform: disable),
            .createOrUpdate(DeviceIdentity(deviceId: "d2"), create: { (record("d2"), "{}") }, transform: disable),
            .delete(DeviceIdentity(deviceId: "d1", moduleId: "m"), condition: .any),
            .delete(DeviceIdentity(deviceId: "nope"), condition: .any),
        ]
        let fast = try await batched.applyRegistryChanges(changes)
        let slow = try await single.applyRegistryChangesOneByOne(changes)
        #expect(fast.map(Self.summary) == slow.map(Self.summary))
        #expect(fast.map(Self.summary) == ["created d1 v1", "409001", "created d1/m v1", "404001", "412002", "400004",
                                           "created d2 v1", "updated d2 v2", "deleted d1/m v1", "404001"])
        let fastRows = try await batched.twins(after: nil, includeModules: true, limit: 100).map { $0.record }
        let slowRows = try await single.twins(after: nil, includeModules: true, limit: 100).map { $0.record }
        #expect(fastRows == slowRows)
    }

    static func summary(_ result: Result<RegistryChangeOutcome, HubError>) -> String {
        switch result {
        case .success(.created(let record)): "created \(record.identity.clientId) v\(record.version)"
        case .success(.updated(let record)): "updated \(record.identity.clientId) v\(record.version)"
        case .success(.deleted(let record)): "deleted \(record.identity.clientId) v\(record.version)"
        case .failure(let error): "\(error.code.rawValue)"
        }
    }
}
