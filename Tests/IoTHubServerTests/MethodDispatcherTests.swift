import Foundation
import IoTHubProtocol
import Logging
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

@Suite("method dispatcher")
struct MethodDispatcherTests {
    let me = DeviceIdentity(deviceId: "m1")

    @Test("a call reaches the device and its answer comes back")
    func roundTrip() async throws {
        let presence = PresenceDirectory()
        let dispatcher = MethodDispatcher(presence: presence, logger: Logger(label: "t"), second: .milliseconds(20))
        let session = RecordingSession(me)
        presence.register(session)
        let me = self.me
        async let result = dispatcher.invoke(me, method: "reboot", payload: Array(#"{"delay":1}"#.utf8))
        while session.methods.isEmpty { try await Task.sleep(for: .milliseconds(1)) }
        let request = session.methods[0]
        #expect(request.name == "reboot" && request.payload == Array(#"{"delay":1}"#.utf8))
        // Answers from another identity or with an unknown id are ignored.
        #expect(!dispatcher.complete(DirectMethodResponse(status: 200, requestId: request.requestId, payload: []),
                                     from: DeviceIdentity(deviceId: "other")))
        #expect(!dispatcher.complete(DirectMethodResponse(status: 200, requestId: "zz", payload: []), from: me))
        #expect(dispatcher.complete(DirectMethodResponse(status: 201, requestId: request.requestId, payload: Array("42".utf8)), from: me))
        let response = try await result
        #expect(response.status == 201 && response.payload == Array("42".utf8))
        #expect(dispatcher.pendingCount == 0)
    }

    @Test("offline device: 404103 at once, or after the connect timeout")
    func offline() async throws {
        let presence = PresenceDirectory()
        let dispatcher = MethodDispatcher(presence: presence, logger: Logger(label: "t"), second: .milliseconds(10))
        await #expect { try await dispatcher.invoke(me, method: "x", payload: []) } throws: { ($0 as? HubError)?.code == .deviceNotOnline }
        await #expect { try await dispatcher.invoke(me, method: "x", payload: [], connectTimeout: 5) } throws: { ($0 as? HubError)?.code == .deviceNotOnline }
        // Connected but not subscribed to methods counts as offline.
        presence.register(RecordingSession(me, methods: false))
        await #expect { try await dispatcher.invoke(me, method: "x", payload: []) } throws: { ($0 as? HubError)?.code == .deviceNotOnline }
    }

    @Test("a device that connects within the connect timeout gets the call")
    func connectTimeout() async throws {
        let presence = PresenceDirectory()
        let dispatcher = MethodDispatcher(presence: presence, logger: Logger(label: "t"), second: .milliseconds(50))
        let session = RecordingSession(me)
        let me = self.me
        async let result = dispatcher.invoke(me, method: "late", payload: [], connectTimeout: 100)
        try await Task.sleep(for: .milliseconds(100))
        presence.register(session)
        while session.methods.isEmpty { try await Task.sleep(for: .milliseconds(1)) }
        dispatcher.complete(DirectMethodResponse(status: 200, requestId: session.methods[0].requestId, payload: []), from: me)
        #expect(try await result.status == 200)
    }

    @Test("no answer: 504101 after the response timeout; disconnect fails waiting calls")
    func timeouts() async throws {
        let presence = PresenceDirectory()
        let dispatcher = MethodDispatcher(presence: presence, logger: Logger(label: "t"), second: .milliseconds(10))
        presence.register(RecordingSession(me))
        await #expect { try await dispatcher.invoke(me, method: "slow", payload: [], responseTimeout: 5) } throws: {
            ($0 as? HubError)?.code == .gatewayTimeout
        }
        let identity = me
        let dropped = Task { try await dispatcher.invoke(identity, method: "drop", payload: [], responseTimeout: 300) }
        while dispatcher.pendingCount == 0 { try await Task.sleep(for: .milliseconds(1)) }
        dispatcher.connectionEnded(identity)
        await #expect { try await dropped.value } throws: { ($0 as? HubError)?.code == .deviceNotOnline }
    }

    @Test("out-of-range timeouts and oversized payloads are refused", arguments: [(4, 0, 10), (301, 0, 10), (30, -1, 10), (30, 301, 10), (30, 0, 131_073)])
    func limits(response: Int, connect: Int, size: Int) async {
        let dispatcher = MethodDispatcher(presence: PresenceDirectory(), logger: Logger(label: "t"))
        await #expect {
            try await dispatcher.invoke(DeviceIdentity(deviceId: "d"), method: "m", payload: [UInt8](repeating: 1, count: size),
                                        responseTimeout: response, connectTimeout: connect)
        } throws: { ($0 as? HubError)?.code == .argumentInvalid }
    }
}
