import Foundation
import IoTHubProtocol
import Logging
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

@Suite("cloud-to-device service")
struct CloudToDeviceServiceTests {
    @Test("send stamps and wakes the session; complete and reject give feedback as requested; limits hold")
    func lifecycle() async throws {
        let store = try SQLiteHubStore(path: TestProcess.temporaryDirectory() + "/hub.sqlite", durability: .normal)
        defer { store.close() }
        let presence = PresenceDirectory()
        let service = CloudToDeviceService(store: store, presence: presence, logger: Logger(label: "t"))
        let me = DeviceIdentity(deviceId: "c2d")
        await #expect { try await service.send(IoTHubMessage(text: "x"), to: me) } throws: { ($0 as? HubError)?.code == .deviceNotFound }
        _ = try await store.createDevice(DeviceRecord(identity: me, authentication: .sas(primaryKey: .random(), secondaryKey: .random())), twin: "{}")
        let session = RecordingSession(me)
        presence.register(session)

        var message = IoTHubMessage(text: "hello", properties: ["a": "1"])
        message.systemProperties.messageId = "mid-1"
        try await service.send(message, to: me, acknowledgement: .full)
        try await service.send(IoTHubMessage(text: "second"), to: me, acknowledgement: .positive)
        #expect(session.cloudToDeviceSignals == 2)
        let locked = try await service.lock(me, maximum: 10)
        #expect(locked.count == 2)
        #expect(locked[0].message.systemProperties.to == "/devices/c2d/messages/deviceBound")
        #expect(locked[0].message.systemProperties.ack == "full")
        #expect(locked[1].message.systemProperties.messageId != nil)
        try await service.settle(me, lockToken: locked[0].lockToken!, disposition: .reject)
        try await service.settle(me, lockToken: locked[1].lockToken!, disposition: .complete)
        let feedback = service.takeFeedback()
        #expect(feedback.map(\.status) == [.rejected, .success])
        #expect(feedback[0].originalMessageId == "mid-1" && feedback[0].deviceId == "c2d")
        #expect(service.takeFeedback().isEmpty)

        await #expect { try await service.send(IoTHubMessage(body: [UInt8](repeating: 0, count: 65_537)), to: me) } throws: {
            ($0 as? HubError)?.code == .argumentInvalid
        }
        await #expect { try await service.send(IoTHubMessage(text: "x"), to: me, timeToLive: 172_801) } throws: {
            ($0 as? HubError)?.code == .argumentInvalid
        }
        for index in 0..<50 { try await service.send(IoTHubMessage(text: "\(index)"), to: me) }
        await #expect { try await service.send(IoTHubMessage(text: "51st"), to: me) } throws: {
            ($0 as? HubError)?.code == .deviceMaximumQueueDepthExceeded
        }
        #expect(try await service.purge(me) == 50)
    }
}
