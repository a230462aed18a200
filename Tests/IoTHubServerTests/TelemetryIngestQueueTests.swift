import Foundation
import IoTHubProtocol
import Logging
import NIOCore
import NIOEmbedded
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

@Suite("telemetry ingest queue")
struct TelemetryIngestQueueTests {
    /// A session that records what it hears and, at that moment, how many messages another connection to the
    /// database can read: a client told before the commit would see fewer than it was told about.
    final class Client: TelemetryIngestClient, @unchecked Sendable {
        let path: String
        var heard: [(token: UInt64, success: Bool, visible: Int)] = []
        init(path: String) { self.path = path }

        func telemetryIngested(token: UInt64, result: Result<Void, HubError>) {
            let reader = try? SQLiteConnection(path: path, readOnly: true)
            let visible = (try? reader?.query("SELECT COUNT(*) FROM events"))??.first?.first?.integer ?? -1
            heard.append((token, (try? result.get()) != nil, Int(visible)))
        }
    }

    @Test("a tick's messages from several sessions go to the store together; each session hears after the commit, in order")
    func batchesPerTick() async throws {
        let directory = TestProcess.temporaryDirectory()
        let path = directory + "/hub.sqlite"
        let store = try SQLiteHubStore(path: path, durability: .full)
        defer { store.close() }
        let events = EventService(store: store, logger: Logger(label: "test"))
        let loop = NIOAsyncTestingEventLoop()
        let (first, second) = (Client(path: path), Client(path: path))
        let sources = ["d1", "d2"].map {
            TelemetrySource(identity: DeviceIdentity(deviceId: $0), authentication: .sas, generationId: "g", protocol: "mqtt")
        }
        let refused: [HubError?] = try await loop.executeInContext {
            let queue = TelemetryIngestQueue(events: events, eventLoop: loop)
            var refused: [HubError?] = []
            for index in 0..<6 {
                let client = index % 2 == 0 ? first : second
                refused.append(queue.submit(IoTHubMessage(text: "m\(index)"), from: sources[index % 2], client: client,
                                            token: UInt64(index)))
            }
            // Too large: refused at once, and nothing of it reaches the store.
            refused.append(queue.submit(IoTHubMessage(body: Array(repeating: 0, count: 300_000)), from: sources[0],
                                        client: first, token: 99))
            return refused
        }
        #expect(refused.prefix(6).allSatisfy { $0 == nil })
        #expect(refused.last??.code == .messageTooLarge)
        // The hand-off runs at the end of the tick; the answers hop back to the loop after the commit.
        // (The testing loop runs what was scheduled on it when told to.)
        for _ in 0..<500 {
            await loop.run()
            let done = try await loop.executeInContext { first.heard.count + second.heard.count }
            if done == 6 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        try await loop.executeInContext {
            #expect(first.heard.map(\.token) == [0, 2, 4])
            #expect(second.heard.map(\.token) == [1, 3, 5])
            #expect((first.heard + second.heard).allSatisfy { $0.success })
            // All six were one batch: committed together, so each session saw all six when it heard.
            #expect((first.heard + second.heard).allSatisfy { $0.visible == 6 })
        }
        let stored = try await events.events(after: 0, deviceId: nil)
        #expect(stored.map(\.sequenceNumber) == Array(1...6))
        #expect(stored.map { String(decoding: $0.message.body, as: UTF8.self) } == (0..<6).map { "m\($0)" })
        #expect(stored[1].message.systemProperties.connectionDeviceId == "d2")
        #expect(stored[1].message.systemProperties.messageSource == "Telemetry")
        #expect(stored[1].message.systemProperties.connectionAuthMethod?.contains(#""type":"sas""#) == true)
        #expect(try await events.events(after: 0, deviceId: "d1").map(\.sequenceNumber) == [1, 3, 5])
    }
}
