import Foundation
import IoTHubProtocol
import Logging
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

@Suite("event service")
struct EventServiceTests {
    @Test("ingest stamps system properties and stores durably; read back by device")
    func ingest() async throws {
        let store = try SQLiteHubStore(path: TestProcess.temporaryDirectory() + "/hub.sqlite", durability: .normal)
        defer { store.close() }
        let events = EventService(store: store, logger: Logger(label: "test"))
        var message = IoTHubMessage(text: #"{"t":1}"#, properties: ["level": "info"])
        message.systemProperties.messageId = "m-1"
        let now = Date(timeIntervalSince1970: 1_800_000_000.25)
        let sequence = try await events.ingest(message, from: DeviceIdentity(deviceId: "d", moduleId: "m"),
                                               authentication: .sas, generationId: "638000", now: now)
        let stored = try #require(try await events.events(after: sequence - 1, deviceId: "d").first)
        let system = stored.message.systemProperties
        #expect(stored.message.body == message.body && stored.message.properties == ["level": "info"])
        #expect(system.messageId == "m-1")
        #expect(system.connectionDeviceId == "d" && system.connectionModuleId == "m")
        #expect(system.connectionAuthMethod == #"{"scope":"module","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}"#)
        #expect(system.connectionAuthGenerationId == "638000")
        #expect(system.enqueuedTime == "2027-01-15T08:00:00.2500000Z")
        #expect(system.messageSource == "Telemetry")
    }

    @Test("a message over 256 KiB with its properties is refused with 413002 and not stored")
    func tooLarge() async throws {
        let store = try SQLiteHubStore(path: TestProcess.temporaryDirectory() + "/hub.sqlite", durability: .normal)
        defer { store.close() }
        let events = EventService(store: store, logger: Logger(label: "test"))
        let body = [UInt8](repeating: 65, count: 262_140)
        await #expect {
            try await events.ingest(IoTHubMessage(body: body, properties: ["abc": "def"]), from: DeviceIdentity(deviceId: "d"),
                                    authentication: .sas, generationId: "1")
        } throws: { ($0 as? HubError)?.code == .messageTooLarge }
        #expect(try await events.lastSequenceNumber() == 0)
        _ = try await events.ingest(IoTHubMessage(body: body), from: DeviceIdentity(deviceId: "d"), authentication: .sas, generationId: "1")
        #expect(try await events.lastSequenceNumber() == 1)
    }
}
