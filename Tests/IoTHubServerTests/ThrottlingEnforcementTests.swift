import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import IoTHubProtocol
import MQTTCore
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// The tier's throttles as the heads enforce them: REST answers 429 ThrottlingException, MQTT twin requests get
/// 429 on their response topic, connects beyond the limit get CONNACK 3, telemetry beyond it ends the connection.
@Suite("throttling at the heads")
struct ThrottlingEnforcementTests {
    /// S1, with `operation` cut down to `burst` requests and no shaping, so the next one is refused.
    func tier(_ operation: ThrottledOperation, burst: Double) throws -> ThrottlingConfiguration {
        var configuration = try ThrottlingConfiguration(tier: .standard1, units: 1)
        try configuration.override(operation, with: .perSecond(0.001, burst: burst, shapingWindow: .zero))
        return configuration
    }

    @Test("REST: a twin read over the limit is 429 with iothub-errorcode ThrottlingException; /metrics counts it")
    func restTwinReads() async throws {
        let hub = try TestHub(throttling: try tier(.twinRead, burst: 2))
        defer { hub.store.close() }
        _ = try await TestDevice.create("d1", on: hub)
        let app = Application(router: HubRouter.make(hub.services))
        try await app.test(.router) { client in
            let auth: HTTPFields = [.authorization: hub.token()]
            for _ in 0..<2 {
                try await client.execute(uri: "/twins/d1", method: .get, headers: auth) { #expect($0.status == .ok) }
            }
            try await client.execute(uri: "/twins/d1", method: .get, headers: auth) { response in
                #expect(response.status == .tooManyRequests)
                #expect(response.headers[HTTPField.Name("iothub-errorcode")!] == "ThrottlingException")
            }
            // Other operations have their own budgets.
            try await client.execute(uri: "/devices/d1", method: .get, headers: auth) { #expect($0.status == .ok) }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"iothub_throttle_decisions_total{operation="twin_read",decision="rejected"} 1"#))
                #expect(text.contains(#"iothub_tier_info{tier="S1",units="1"} 1"#))
            }
        }
    }

    @Test("MQTT: twin GETs over the limit are answered 429 on $iothub/twin/res")
    func mqttTwinReads() async throws {
        let hub = try TestHub(throttling: try tier(.twinRead, burst: 1))
        defer { hub.store.close() }
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await MQTTTestConnection.open(hub)
        try await connection.send(device.connect())
        #expect(try await connection.nextWrite() == [0x20, 0x02, 0x00, 0x00])
        try await connection.send(.subscribe(MQTTSubscribe(packetId: 1, subscriptions: [
            MQTTSubscription(topicFilter: "$iothub/twin/res/#", qos: .atMostOnce)])))
        _ = try await connection.nextPacket()
        var topics: [String] = []
        for index in 0..<2 {
            try await connection.send(.publish(MQTTPublish(topic: "$iothub/twin/GET/?$rid=\(index)", payload: [])))
            if case .publish(let publish)? = try await connection.nextPacket() { topics.append(publish.topic) }
        }
        #expect(topics == ["$iothub/twin/res/200/?$rid=0", "$iothub/twin/res/429/?$rid=1"])
    }

    @Test("MQTT: a CONNECT over the new-connection limit gets CONNACK 3 (server unavailable)")
    func mqttConnects() async throws {
        let hub = try TestHub(throttling: try tier(.connect, burst: 1))
        defer { hub.store.close() }
        let device = try await TestDevice.create("d1", on: hub)
        var answers: [[UInt8]?] = []
        for _ in 0..<2 {
            let connection = try await MQTTTestConnection.open(hub)
            try await connection.send(device.connect())
            answers.append(try await connection.nextWrite())
        }
        #expect(answers == [[0x20, 0x02, 0x00, 0x00], [0x20, 0x02, 0x00, 0x03]])
    }

    @Test("MQTT: telemetry over the limit closes the connection without a PUBACK for it")
    func mqttTelemetry() async throws {
        let hub = try TestHub(throttling: try tier(.deviceToCloud, burst: 1))
        defer { hub.store.close() }
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await MQTTTestConnection.open(hub)
        try await connection.send(device.connect())
        #expect(try await connection.nextWrite() == [0x20, 0x02, 0x00, 0x00])
        try await connection.send(.publish(MQTTPublish(topic: "devices/d1/messages/events/", payload: [1],
                                                        qos: .atLeastOnce, packetId: 1)))
        #expect(try await connection.nextPacket() == .pubAck(MQTTPubAck(packetId: 1)))
        try await connection.send(.publish(MQTTPublish(topic: "devices/d1/messages/events/", payload: [2],
                                                        qos: .atLeastOnce, packetId: 2)))
        #expect(try await connection.closed())
    }

    @Test("the daily quota counts telemetry in 4 KB chunks and, once used up, refuses with 403002")
    func dailyQuota() async throws {
        var configuration = try ThrottlingConfiguration(tier: .standard1, units: 1)
        try configuration.overrideDailyQuota(DailyMessageQuota(messages: 3, chunkBytes: 4096))
        let hub = try TestHub(throttling: configuration)
        defer { hub.store.close() }
        let device = try await TestDevice.create("d1", on: hub)
        let app = Application(router: HubRouter.make(hub.services))
        try await app.test(.router) { client in
            let auth: HTTPFields = [.authorization: device.token()]
            // 4,097 bytes count as 2 messages; 1 more uses up the quota of 3.
            for size in [4_097, 10] {
                try await client.execute(uri: "/devices/d1/messages/events", method: .post, headers: auth,
                                         body: ByteBuffer(bytes: [UInt8](repeating: 0x61, count: size))) {
                    #expect($0.status == .noContent)
                }
            }
            try await client.execute(uri: "/devices/d1/messages/events", method: .post, headers: auth,
                                     body: ByteBuffer(string: "x")) { response in
                #expect(response.status == .forbidden)
                #expect(response.headers[HTTPField.Name("iothub-errorcode")!] == "IotHubQuotaExceeded")
            }
        }
        #expect(hub.services.throttle.dailyQuotaUsage()?.used == 3)
    }
}
