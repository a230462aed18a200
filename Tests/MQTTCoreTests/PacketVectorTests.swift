import Testing
@testable import MQTTCore

/// A packet and its exact wire bytes, written by hand from the MQTT 3.1.1 specification.
struct Vector: Sendable, CustomTestStringConvertible {
    let name: String
    let packet: MQTTPacket
    let bytes: [UInt8]

    init(_ name: String, _ packet: MQTTPacket, _ hexBytes: String) {
        self.name = name
        self.packet = packet
        self.bytes = hex(hexBytes)
    }

    var testDescription: String { name }
}

/// One or more vectors per packet type.
let vectors: [Vector] = [
    // CONNECT §3.1. Fixed header 0x10; "MQTT" = 4D 51 54 54; level 4.
    Vector(
        "CONNECT d1, keep alive 60, clean session, user name and password",
        .connect(MQTTConnect(clientId: "d1", cleanSession: true, keepAlive: 60, username: "user",
                             password: Array("pw".utf8))),
        """
        10 18
        00 04 4D 51 54 54   04   C2   00 3C
        00 02 64 31
        00 04 75 73 65 72
        00 02 70 77
        """),
    Vector(
        "CONNECT with empty client id, keep alive 0",
        .connect(MQTTConnect(clientId: "", cleanSession: true, keepAlive: 0)),
        "10 0C  00 04 4D 51 54 54  04  02  00 00  00 00"),
    Vector(
        "CONNECT with will QoS 1 retained, no clean session",
        .connect(MQTTConnect(clientId: "c", cleanSession: false, keepAlive: 0,
                             will: MQTTWill(topic: "w/t", payload: Array("bye".utf8), qos: .atLeastOnce, retain: true))),
        """
        10 17
        00 04 4D 51 54 54  04  2C  00 00
        00 01 63
        00 03 77 2F 74
        00 03 62 79 65
        """),
    Vector(
        "CONNECT with will QoS 2, empty will message, user name only, keep alive 300",
        .connect(MQTTConnect(clientId: "id", cleanSession: true, keepAlive: 300, username: "u",
                             will: MQTTWill(topic: "t", payload: [], qos: .exactlyOnce))),
        """
        10 16
        00 04 4D 51 54 54  04  96  01 2C
        00 02 69 64
        00 01 74
        00 00
        00 01 75
        """),
    // CONNACK §3.2.
    Vector("CONNACK accepted, session present", .connAck(MQTTConnAck(sessionPresent: true, returnCode: .accepted)),
           "20 02 01 00"),
    Vector("CONNACK not authorized", .connAck(MQTTConnAck(returnCode: .notAuthorized)), "20 02 00 05"),
    Vector("CONNACK unacceptable protocol version", .connAck(MQTTConnAck(returnCode: .unacceptableProtocolVersion)),
           "20 02 00 01"),
    // PUBLISH §3.3. Flags: DUP 0x08, QoS << 1, RETAIN 0x01.
    Vector("PUBLISH QoS 1, retain, id 10, payload \"hi\"",
           .publish(MQTTPublish(topic: "a/b", payload: Array("hi".utf8), qos: .atLeastOnce, packetId: 10, retain: true)),
           "33 09  00 03 61 2F 62  00 0A  68 69"),
    Vector("PUBLISH QoS 0, empty payload",
           .publish(MQTTPublish(topic: "a/b", payload: [])),
           "30 05  00 03 61 2F 62"),
    Vector("PUBLISH QoS 2, DUP, id 0x1234",
           .publish(MQTTPublish(topic: "t", payload: [1, 2], qos: .exactlyOnce, packetId: 0x1234, dup: true)),
           "3C 07  00 01 74  12 34  01 02"),
    Vector("PUBLISH QoS 1 with a multi-byte UTF-8 topic",
           .publish(MQTTPublish(topic: "é/日", payload: [], qos: .atLeastOnce, packetId: 1)),
           "32 0A  00 06 C3 A9 2F E6 97 A5  00 01"),
    // Acknowledgements §3.4–3.7; PUBREL has flags 0b0010.
    Vector("PUBACK", .pubAck(MQTTPubAck(packetId: 10)), "40 02 00 0A"),
    Vector("PUBREC", .pubRec(MQTTPubRec(packetId: 10)), "50 02 00 0A"),
    Vector("PUBREL", .pubRel(MQTTPubRel(packetId: 10)), "62 02 00 0A"),
    Vector("PUBCOMP with id 65535", .pubComp(MQTTPubComp(packetId: 0xFFFF)), "70 02 FF FF"),
    // SUBSCRIBE §3.8 (flags 0b0010), SUBACK §3.9.
    Vector("SUBSCRIBE a/+ QoS 1 and # QoS 0",
           .subscribe(MQTTSubscribe(packetId: 1, subscriptions: [
               MQTTSubscription(topicFilter: "a/+", qos: .atLeastOnce),
               MQTTSubscription(topicFilter: "#", qos: .atMostOnce),
           ])),
           "82 0C  00 01  00 03 61 2F 2B  01  00 01 23  00"),
    Vector("SUBSCRIBE $SYS/# QoS 2",
           .subscribe(MQTTSubscribe(packetId: 7, subscriptions: [MQTTSubscription(topicFilter: "$SYS/#", qos: .exactlyOnce)])),
           "82 0B  00 07  00 06 24 53 59 53 2F 23  02"),
    Vector("SUBACK granted QoS 1 and failure 0x80",
           .subAck(MQTTSubAck(packetId: 1, returnCodes: [.grantedQoS1, .failure])),
           "90 04  00 01  01 80"),
    Vector("SUBACK granted QoS 2", .subAck(MQTTSubAck(packetId: 7, returnCodes: [.grantedQoS2])), "90 03 00 07 02"),
    // UNSUBSCRIBE §3.10 (flags 0b0010), UNSUBACK §3.11.
    Vector("UNSUBSCRIBE a/+ and #",
           .unsubscribe(MQTTUnsubscribe(packetId: 2, topicFilters: ["a/+", "#"])),
           "A2 0A  00 02  00 03 61 2F 2B  00 01 23"),
    Vector("UNSUBACK", .unsubAck(MQTTUnsubAck(packetId: 2)), "B0 02 00 02"),
    // §3.12–3.14.
    Vector("PINGREQ", .pingReq, "C0 00"),
    Vector("PINGRESP", .pingResp, "D0 00"),
    Vector("DISCONNECT", .disconnect, "E0 00"),
]

@Suite("byte-exact vectors from the MQTT 3.1.1 specification")
struct PacketVectorTests {
    @Test("every packet type has at least one vector")
    func coverage() {
        let covered = Set(vectors.map(\.packet.packetType))
        #expect(covered == Set(MQTTPacketType.allCases))
    }

    @Test("encoding produces the exact bytes", arguments: vectors)
    func encode(vector: Vector) throws {
        #expect(try vector.packet.encoded() == vector.bytes)
        #expect(try MQTTPacketEncoder().encodedSize(of: vector.packet) == vector.bytes.count)
    }

    @Test("decoding the bytes produces the packet", arguments: vectors)
    func decode(vector: Vector) throws {
        #expect(try decodeOne(vector.bytes) == vector.packet)
    }

    @Test("encode(into:) appends after existing bytes")
    func appends() throws {
        var buffer: [UInt8] = [0xAA]
        try MQTTPacket.pingReq.encode(into: &buffer)
        try MQTTPacket.pubAck(MQTTPubAck(packetId: 10)).encode(into: &buffer)
        #expect(buffer == hex("AA C0 00 40 02 00 0A"))
    }

    @Test("appending many packets to one buffer grows it geometrically, not once per packet")
    func geometricGrowth() throws {
        let publish = MQTTPacket.publish(MQTTPublish(topic: "a/b", payload: [UInt8](repeating: 1, count: 100),
                                                     qos: .atLeastOnce, packetId: 1))
        var buffer: [UInt8] = []
        var reallocations = 0
        var capacity = buffer.capacity
        for _ in 0..<20_000 {
            try publish.encode(into: &buffer)
            if buffer.capacity != capacity {
                reallocations += 1
                capacity = buffer.capacity
            }
        }
        #expect(buffer.count == 20_000 * 109)  // 1 + 1 + (2 + 3) + 2 + 100
        #expect(reallocations <= 32)
    }

    @Test("all vectors coalesced in one chunk decode in order")
    func coalesced() throws {
        let stream = vectors.flatMap(\.bytes)
        #expect(try decodeAll(stream) == vectors.map(\.packet))
    }
}
