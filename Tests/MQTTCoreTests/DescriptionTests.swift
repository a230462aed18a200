import Testing
@testable import MQTTCore

@Suite("descriptions")
struct DescriptionTests {
    @Test("decode errors explain themselves")
    func decodeErrors() {
        let errors: [MQTTDecodeError] = [
            .malformedRemainingLength,
            .packetTooLarge(size: 200_000_005, limit: 266_240),
            .reservedPacketType(15),
            .invalidFixedHeaderFlags(packetType: .pubRel, flags: 0),
            .invalidFixedHeaderFlags(packetType: .publish, flags: 0b1000),
            .truncated(field: .clientId),
            .trailingBytes(packetType: .pubAck, count: 1),
            .invalidUTF8(field: .topicName),
            .invalidQoS(3),
            .invalidProtocolName("HTTP"),
            .unsupportedProtocolLevel(5),
            .invalidConnectFlags(reason: .passwordWithoutUsername),
            .invalidPacketIdentifier(packetType: .subscribe),
            .wildcardInTopicName("a/+"),
            .emptyTopic,
            .emptySubscription(packetType: .subscribe),
            .invalidTopicFilter("a/#/b"),
            .invalidSubAckReturnCode(3),
            .invalidConnAckReturnCode(6),
            .invalidConnAckFlags(2),
        ]
        #expect(Set(errors.map(\.description)).count == errors.count)
        #expect(MQTTDecodeError.packetTooLarge(size: 200_000_005, limit: 266_240).description.contains("200000005"))
        #expect(MQTTDecodeError.invalidFixedHeaderFlags(packetType: .pubRel, flags: 0).description
                == "invalid fixed-header flags 0b0000 for PUBREL: must be 0b0010 (MQTT-2.2.2-1)")
        #expect(MQTTDecodeError.unsupportedProtocolLevel(5).description.contains("MQTT 5"))
        #expect(MQTTDecodeError.truncated(field: .clientId).description.contains("client identifier"))
        #expect(MQTTDecodeError.invalidConnectFlags(reason: .invalidWillQoS).description.contains("MQTT-3.1.2-14"))
    }

    @Test("encode errors explain themselves")
    func encodeErrors() {
        #expect(MQTTEncodeError.fieldTooLong(field: .topicName, length: 70_000).description.contains("70000"))
        #expect(MQTTEncodeError.wildcardInTopicName("a/+").description.contains("\"a/+\""))
    }

    @Test("packet descriptions summarise without leaking passwords or payloads")
    func packets() {
        let connect = MQTTPacket.connect(MQTTConnect(clientId: "d1", username: "user", password: Array("s3cret".utf8)))
        #expect(connect.description.contains("\"d1\""))
        #expect(connect.description.contains("<6 bytes>"))
        #expect(!connect.description.contains("s3cret"))
        #expect(!connect.description.contains("115"))  // 's' as a byte value
        let publish = MQTTPacket.publish(MQTTPublish(topic: "a/b", payload: [1, 2], qos: .atLeastOnce, packetId: 7, retain: true))
        #expect(publish.description == "PUBLISH(topic: \"a/b\", QoS 1, id: 7, retain, 2 bytes)")
        #expect(MQTTPacket.pingReq.description == "PINGREQ")
        #expect(MQTTPacket.subAck(MQTTSubAck(packetId: 1, returnCodes: [.grantedQoS1, .failure])).description
                == "SUBACK(id: 1, granted QoS 1, failure)")
        #expect(MQTTConnectReturnCode.notAuthorized.description == "0x05 not authorized")
        for type in MQTTPacketType.allCases { #expect(!type.description.isEmpty) }
    }

    @Test("packet accessors")
    func accessors() {
        #expect(MQTTPacket.pubRel(MQTTPubRel(packetId: 3)).packetId == 3)
        #expect(MQTTPacket.publish(MQTTPublish(topic: "t", payload: [])).packetId == nil)
        #expect(MQTTPacket.disconnect.packetType == .disconnect)
        #expect(MQTTSubAckReturnCode(granted: .exactlyOnce) == .grantedQoS2)
        #expect(MQTTSubAckReturnCode.failure.grantedQoS == nil)
        #expect(min(MQTTQoS.exactlyOnce, .atLeastOnce) == .atLeastOnce)
    }
}
