import Testing
@testable import MQTTCore

@Suite("round trips")
struct RoundTripTests {
    /// At least one hand-picked packet of every type, with edge values.
    static let packets: [MQTTPacket] = [
        .connect(MQTTConnect(clientId: "device-1", cleanSession: false, keepAlive: 65535,
                             username: "hub.local/device-1/?api-version=2021-04-12", password: Array(0...255),
                             will: MQTTWill(topic: "devices/device-1/status", payload: Array("offline".utf8),
                                            qos: .exactlyOnce, retain: true))),
        .connect(MQTTConnect(clientId: "", keepAlive: 0, username: "", password: [])),
        .connect(MQTTConnect(clientId: String(repeating: "x", count: 65535))),
        .connAck(MQTTConnAck(sessionPresent: true, returnCode: .accepted)),
        .connAck(MQTTConnAck(returnCode: .serverUnavailable)),
        .publish(MQTTPublish(topic: "$iothub/twin/res/200/?$rid=1", payload: Array("{}".utf8), qos: .atMostOnce)),
        .publish(MQTTPublish(topic: "/", payload: [0], qos: .atLeastOnce, packetId: 1, retain: true, dup: true)),
        .publish(MQTTPublish(topic: "a//b/", payload: [], qos: .exactlyOnce, packetId: 65535)),
        .publish(MQTTPublish(topic: String(repeating: "日", count: 21845), payload: [1])),
        .pubAck(MQTTPubAck(packetId: 1)),
        .pubRec(MQTTPubRec(packetId: 2)),
        .pubRel(MQTTPubRel(packetId: 3)),
        .pubComp(MQTTPubComp(packetId: 4)),
        .subscribe(MQTTSubscribe(packetId: 9, subscriptions: [
            MQTTSubscription(topicFilter: "#", qos: .exactlyOnce),
            MQTTSubscription(topicFilter: "+/+/#", qos: .atLeastOnce),
            MQTTSubscription(topicFilter: "/", qos: .atMostOnce),
        ])),
        .subAck(MQTTSubAck(packetId: 9, returnCodes: [.grantedQoS0, .grantedQoS1, .grantedQoS2, .failure])),
        .unsubscribe(MQTTUnsubscribe(packetId: 10, topicFilters: ["+", "a/b/c", "$SYS/#"])),
        .unsubAck(MQTTUnsubAck(packetId: 10)),
        .pingReq,
        .pingResp,
        .disconnect,
    ]

    @Test("every packet type survives encode → decode → encode unchanged")
    func handPicked() throws {
        #expect(Set(Self.packets.map(\.packetType)) == Set(MQTTPacketType.allCases))
        for packet in Self.packets {
            let bytes = try packet.encoded()
            let decoded = try decodeOne(bytes)
            #expect(decoded == packet, "\(packet)")
            #expect(try decoded.encoded() == bytes, "\(packet)")
        }
    }

    @Test("a topic of exactly 65535 UTF-8 bytes round-trips")
    func longestTopic() throws {
        let topic = String(repeating: "日", count: 21845)
        #expect(topic.utf8.count == 65535)
        let packet = MQTTPacket.publish(MQTTPublish(topic: topic, payload: []))
        #expect(try decodeOne(packet.encoded()) == packet)
    }

    @Test("all hand-picked packets fed one byte at a time decode in order")
    func byteAtATime() throws {
        let stream = try encodeAll(Self.packets)
        var decoder = MQTTStreamDecoder(maximumPacketSize: .max)
        var decoded: [MQTTPacket] = []
        for byte in stream {
            decoder.append(CollectionOfOne(byte))
            while let packet = try decoder.next() { decoded.append(packet) }
        }
        #expect(decoded == Self.packets)
        #expect(decoder.bufferedByteCount == 0)
    }
}
