import Testing
@testable import MQTTCore

@Suite("malformed packet bodies")
struct MalformedBodyTests {
    // MARK: Strings

    @Test("strings whose length prefix points past the end of the packet are truncated")
    func truncatedStrings() {
        #expect(decodeError(hex("30 04 00 05 61 62")) == .truncated(field: .topicName))
        #expect(decodeError(hex("30 01 00")) == .truncated(field: .topicName))
        #expect(decodeError(hex("30 00")) == .truncated(field: .topicName))
        #expect(decodeError(frame(0x10, body: connectBody(flags: 0x02, payload: hex("00 09 64 31"))))
                == .truncated(field: .clientId))
        #expect(decodeError(frame(0x10, body: connectBody(flags: 0x82, payload: field("d1") + hex("00 04 75"))))
                == .truncated(field: .username))
        #expect(decodeError(frame(0x10, body: connectBody(flags: 0xC2, payload: field("d1") + field("u") + hex("00"))))
                == .truncated(field: .password))
        #expect(decodeError(frame(0x10, body: connectBody(flags: 0x06, payload: field("d1") + field("w"))))
                == .truncated(field: .willPayload))
        #expect(decodeError(frame(0x10, body: hex("00 04 4D 51"))) == .truncated(field: .protocolName))
        #expect(decodeError(frame(0x10, body: hex("00 04 4D 51 54 54"))) == .truncated(field: .protocolLevel))
        #expect(decodeError(frame(0x10, body: hex("00 04 4D 51 54 54 04"))) == .truncated(field: .connectFlags))
        #expect(decodeError(frame(0x10, body: hex("00 04 4D 51 54 54 04 02 00"))) == .truncated(field: .keepAlive))
        #expect(decodeError(hex("32 04 00 01 74 00")) == .truncated(field: .packetIdentifier))
        #expect(decodeError(hex("82 06 00 01 00 02 61 62")) == .truncated(field: .requestedQoS))
    }

    @Test("ill-formed UTF-8 in a topic is refused", arguments: [
        "FF", "80", "C0 80", "C1 BF", "E0 80 80", "ED A0 80", "ED BF BF", "F4 90 80 80", "F5 80 80 80", "E6 97",
        "C3", "F0 9F 98", "E6 28 A5",
    ])
    func invalidUTF8InTopic(sequence: String) {
        let topic = hex("61") + hex(sequence) + hex("62")
        #expect(decodeError(frame(0x30, body: field(topic))) == .invalidUTF8(field: .topicName))
    }

    @Test("U+0000 is refused in every string field")
    func nullCharacter() {
        let withNull = hex("61 00 62")
        #expect(decodeError(frame(0x30, body: field(withNull))) == .invalidUTF8(field: .topicName))
        #expect(decodeError(frame(0x10, body: connectBody(flags: 0x02, payload: field(withNull))))
                == .invalidUTF8(field: .clientId))
        #expect(decodeError(frame(0x10, body: connectBody(flags: 0x82, payload: field("d") + field(withNull))))
                == .invalidUTF8(field: .username))
        #expect(decodeError(frame(0x10, body: connectBody(flags: 0x06, payload: field("d") + field(withNull) + field(""))))
                == .invalidUTF8(field: .willTopic))
        #expect(decodeError(frame(0x82, body: hex("00 01") + field(withNull) + [0])) == .invalidUTF8(field: .topicFilter))
        #expect(decodeError(frame(0xA2, body: hex("00 01") + field(withNull))) == .invalidUTF8(field: .topicFilter))
    }

    @Test("well-formed UTF-8 edge cases are accepted", arguments: [
        "7F", "C2 80", "DF BF", "E0 A0 80", "ED 9F BF", "EE 80 80", "EF BF BF", "F0 90 80 80", "F4 8F BF BF",
        "F0 9F 98 80", "01",
    ])
    func validUTF8(sequence: String) throws {
        let bytes = hex(sequence)
        #expect(MQTTUTF8.isValid(bytes, 0..<bytes.count))
        let decoded = try decodeOne(frame(0x30, body: field(hex("61") + bytes)))
        guard case .publish(let publish) = decoded else { Issue.record("not a PUBLISH"); return }
        #expect(Array(publish.topic.utf8) == hex("61") + bytes)
    }

    // MARK: CONNECT

    @Test("protocol name MQIsdp (MQTT 3.1) is reported as an unsupported protocol level, so the hub answers CONNACK 1")
    func mqisdp() {
        let body = connectBody(name: "MQIsdp", level: 3, flags: 0x02, payload: field("d1"))
        #expect(decodeError(frame(0x10, body: body)) == .unsupportedProtocolLevel(3))
    }

    @Test("protocol names other than MQTT and MQIsdp are invalid")
    func otherProtocolNames() {
        #expect(decodeError(frame(0x10, body: connectBody(name: "MQTX", flags: 0x02, payload: field("d"))))
                == .invalidProtocolName("MQTX"))
        #expect(decodeError(frame(0x10, body: connectBody(name: "mqtt", flags: 0x02, payload: field("d"))))
                == .invalidProtocolName("mqtt"))
        #expect(decodeError(frame(0x10, body: field(""))) == .invalidProtocolName(""))
        let long = String(repeating: "X", count: 100)
        #expect(decodeError(frame(0x10, body: field(long))) == .invalidProtocolName(String(repeating: "X", count: 64)))
    }

    @Test("protocol level 5 (MQTT 5) is unsupported, even though the rest of its CONNECT is laid out differently")
    func level5() {
        // An MQTT 5 CONNECT: properties length 0 after the keep alive.
        let body = hex("00 04 4D 51 54 54 05 02 00 3C 00") + field("abc")
        #expect(decodeError(frame(0x10, body: body)) == .unsupportedProtocolLevel(5))
        #expect(decodeError(frame(0x10, body: connectBody(level: 3, flags: 0x02, payload: field("d"))))
                == .unsupportedProtocolLevel(3))
        // Reported even when nothing follows the level byte.
        #expect(decodeError(frame(0x10, body: hex("00 04 4D 51 54 54 05"))) == .unsupportedProtocolLevel(5))
    }

    @Test("inconsistent CONNECT flags are refused with the reason", arguments: [
        (UInt8(0x03), MQTTDecodeError.ConnectFlagsReason.reservedBitSet),
        (0x01, .reservedBitSet),
        (0x42, .passwordWithoutUsername),
        (0x1E, .invalidWillQoS),           // will flag, will QoS 3
        (0x0A, .willQoSWithoutWill),       // will QoS 1, will flag off
        (0x12, .willQoSWithoutWill),       // will QoS 2, will flag off
        (0x22, .willRetainWithoutWill),    // will retain, will flag off
    ])
    func connectFlags(flags: UInt8, reason: MQTTDecodeError.ConnectFlagsReason) {
        let payload = field("d") + field("w") + field("m") + field("u") + field("p")
        #expect(decodeError(frame(0x10, body: connectBody(flags: flags, payload: payload)))
                == .invalidConnectFlags(reason: reason))
    }

    @Test("a will topic must be a valid topic name")
    func willTopic() {
        #expect(decodeError(frame(0x10, body: connectBody(flags: 0x06, payload: field("d") + field("w/#") + field(""))))
                == .wildcardInTopicName("w/#"))
        #expect(decodeError(frame(0x10, body: connectBody(flags: 0x06, payload: field("d") + field("") + field(""))))
                == .emptyTopic)
    }

    // MARK: CONNACK, SUBACK

    @Test("CONNACK with reserved flag bits, unknown return codes or session present on refusal is refused")
    func connAck() {
        #expect(decodeError(hex("20 02 02 00")) == .invalidConnAckFlags(0x02))
        #expect(decodeError(hex("20 02 80 00")) == .invalidConnAckFlags(0x80))
        #expect(decodeError(hex("20 02 00 06")) == .invalidConnAckReturnCode(6))
        #expect(decodeError(hex("20 02 00 FF")) == .invalidConnAckReturnCode(255))
        #expect(decodeError(hex("20 02 01 05")) == .invalidConnAckFlags(0x01))
    }

    @Test("SUBACK return codes other than 0, 1, 2 and 0x80 are refused", arguments: [UInt8(3), 0x7F, 0x81, 0xFF])
    func subAckReturnCode(code: UInt8) {
        #expect(decodeError(hex("90 04 00 01 00") + [code]) == .invalidSubAckReturnCode(code))
    }

    // MARK: Packet identifiers

    @Test("packet identifier 0 is refused wherever an identifier is required")
    func packetIdZero() {
        #expect(decodeError(hex("32 07 00 01 74 00 00 68 69")) == .invalidPacketIdentifier(packetType: .publish))
        #expect(decodeError(hex("34 05 00 01 74 00 00")) == .invalidPacketIdentifier(packetType: .publish))
        #expect(decodeError(hex("82 06 00 00 00 01 23 00")) == .invalidPacketIdentifier(packetType: .subscribe))
        #expect(decodeError(hex("A2 05 00 00 00 01 23")) == .invalidPacketIdentifier(packetType: .unsubscribe))
        #expect(decodeError(hex("90 03 00 00 00")) == .invalidPacketIdentifier(packetType: .subAck))
        for (firstByte, type) in [(UInt8(0x40), MQTTPacketType.pubAck), (0x50, .pubRec), (0x62, .pubRel),
                                  (0x70, .pubComp), (0xB0, .unsubAck)] {
            #expect(decodeError([firstByte] + hex("02 00 00")) == .invalidPacketIdentifier(packetType: type))
        }
    }

    // MARK: Topics

    @Test("wildcards in a PUBLISH topic name are refused", arguments: ["a/+", "#", "a/#", "+", "a+b", "sport/tennis#"])
    func wildcardInTopicName(topic: String) {
        #expect(decodeError(frame(0x30, body: field(topic))) == .wildcardInTopicName(topic))
    }

    @Test("an empty PUBLISH topic name is refused")
    func emptyTopic() {
        #expect(decodeError(hex("30 02 00 00")) == .emptyTopic)
        #expect(decodeError(hex("32 04 00 00 00 01")) == .emptyTopic)
    }

    @Test("SUBSCRIBE, UNSUBSCRIBE and SUBACK without entries are refused")
    func emptySubscription() {
        #expect(decodeError(hex("82 02 00 01")) == .emptySubscription(packetType: .subscribe))
        #expect(decodeError(hex("A2 02 00 01")) == .emptySubscription(packetType: .unsubscribe))
        #expect(decodeError(hex("90 02 00 01")) == .emptySubscription(packetType: .subAck))
    }

    @Test("misplaced wildcards in topic filters are refused in SUBSCRIBE and UNSUBSCRIBE",
          arguments: ["a/#/b", "a+", "#a", "a/b#", "+a/b", "a/+b", "##", "++", "#/", ""])
    func badTopicFilters(filter: String) {
        #expect(decodeError(frame(0x82, body: hex("00 01") + field(filter) + [0x01])) == .invalidTopicFilter(filter))
        #expect(decodeError(frame(0xA2, body: hex("00 01") + field("ok") + field(filter))) == .invalidTopicFilter(filter))
    }

    @Test("SUBSCRIBE requested QoS above 2 (3, or reserved bits set) is refused", arguments: [UInt8(3), 0x04, 0x41, 0x80, 0xFF])
    func subscribeQoS(requested: UInt8) {
        #expect(decodeError(frame(0x82, body: hex("00 01") + field("a") + [requested])) == .invalidQoS(requested))
    }
}
