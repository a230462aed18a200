import Testing
@testable import MQTTCore

/// Packet types whose fixed-header flags are fixed, with the required value.
let typesWithFixedFlags: [MQTTPacketType] = MQTTPacketType.allCases.filter { $0 != .publish }

@Suite("malformed fixed headers")
struct MalformedHeaderTests {
    @Test("a fifth remaining-length byte is refused as soon as the fourth continuation byte arrives")
    func fiveByteRemainingLength() throws {
        #expect(decodeError(hex("30 FF FF FF FF 7F")) == .malformedRemainingLength)
        var decoder = MQTTStreamDecoder(maximumPacketSize: .max)
        decoder.append(hex("30 FF FF FF"))
        #expect(try decoder.next() == nil)
        decoder.append([0x80])
        #expect(throws: MQTTDecodeError.malformedRemainingLength) { try decoder.next() }
    }

    @Test("an oversized claimed length is refused from the header alone, before any body byte")
    func oversizedClaimedLength() throws {
        // 200 MB announced: 200_000_000 = 0x80 0x84 0xAF 0x5F.
        var decoder = MQTTStreamDecoder()
        decoder.append(hex("30 80 84 AF 5F"))
        #expect(throws: MQTTDecodeError.packetTooLarge(size: 200_000_005, limit: MQTTStreamDecoder.defaultMaximumPacketSize)) {
            try decoder.next()
        }
        #expect(decodeError(hex("30 FF FF FF 7F")) == .packetTooLarge(size: 268_435_460, limit: 266_240))
    }

    @Test("the size limit includes the fixed header and is inclusive")
    func limitIsInclusive() throws {
        // PUBLISH "t" with a 95-byte payload: remaining length 98, total 100.
        let bytes = try MQTTPacket.publish(MQTTPublish(topic: "t", payload: [UInt8](repeating: 1, count: 95))).encoded()
        #expect(bytes.count == 100)
        #expect(try decodeAll(bytes, maximumPacketSize: 100).count == 1)
        #expect(decodeError(Array(bytes[0..<2]), maximumPacketSize: 99) == .packetTooLarge(size: 100, limit: 99))
    }

    @Test("reserved packet types 0 and 15 are refused from the first byte", arguments: [UInt8(0x00), 0xF0, 0x0F, 0xF2])
    func reservedTypes(firstByte: UInt8) {
        #expect(decodeError([firstByte]) == .reservedPacketType(firstByte >> 4))
        #expect(decodeError([firstByte, 0x00]) == .reservedPacketType(firstByte >> 4))
    }

    @Test("every wrong flag value on a type with fixed flags is refused", arguments: typesWithFixedFlags)
    func badFlags(type: MQTTPacketType) throws {
        let required = try #require(type.requiredFlags)
        #expect(required == ([.pubRel, .subscribe, .unsubscribe].contains(type) ? 0b0010 : 0))
        for flags in UInt8(0)...15 where flags != required {
            let first = type.rawValue << 4 | flags
            #expect(decodeError([first]) == .invalidFixedHeaderFlags(packetType: type, flags: flags))
        }
    }

    @Test("PUBLISH with QoS 3 is refused", arguments: [UInt8(0x36), 0x37, 0x3E, 0x3F])
    func publishQoS3(firstByte: UInt8) {
        #expect(decodeError([firstByte, 0x05] + hex("00 03 61 2F 62")) == .invalidQoS(3))
    }

    @Test("PUBLISH with DUP set and QoS 0 is refused (MQTT-3.3.1-2)", arguments: [UInt8(0x38), 0x39])
    func dupWithQoS0(firstByte: UInt8) {
        #expect(decodeError([firstByte, 0x05] + hex("00 03 61 2F 62"))
                == .invalidFixedHeaderFlags(packetType: .publish, flags: firstByte & 0x0F))
    }

    @Test("fixed-size packets announcing a longer body are refused before it is buffered")
    func trailingBytesInFixedSizePackets() {
        #expect(decodeError(hex("C0 01")) == .trailingBytes(packetType: .pingReq, count: 1))
        #expect(decodeError(hex("D0 7F")) == .trailingBytes(packetType: .pingResp, count: 127))
        #expect(decodeError(hex("E0 02")) == .trailingBytes(packetType: .disconnect, count: 2))
        #expect(decodeError(hex("40 03")) == .trailingBytes(packetType: .pubAck, count: 1))
        #expect(decodeError(hex("50 04")) == .trailingBytes(packetType: .pubRec, count: 2))
        #expect(decodeError(hex("62 03")) == .trailingBytes(packetType: .pubRel, count: 1))
        #expect(decodeError(hex("70 03")) == .trailingBytes(packetType: .pubComp, count: 1))
        #expect(decodeError(hex("B0 03")) == .trailingBytes(packetType: .unsubAck, count: 1))
        #expect(decodeError(hex("20 03")) == .trailingBytes(packetType: .connAck, count: 1))
    }

    @Test("variable-size packets with bytes after their last field are refused")
    func trailingBytesInVariablePackets() {
        let connect = frame(0x10, body: connectBody(flags: 0x02, payload: field("d1") + [0xFF]))
        #expect(decodeError(connect) == .trailingBytes(packetType: .connect, count: 1))
        // SUBACK with every byte a return code has no trailing bytes; UNSUBSCRIBE with a stray byte is truncated.
        #expect(decodeError(hex("A2 06 00 01 00 01 23 00")) == .truncated(field: .topicFilter))
    }

    @Test("fixed-size packets shorter than required name the missing field")
    func shortFixedSizePackets() {
        #expect(decodeError(hex("40 01 00")) == .truncated(field: .packetIdentifier))
        #expect(decodeError(hex("40 00")) == .truncated(field: .packetIdentifier))
        #expect(decodeError(hex("20 01 00")) == .truncated(field: .connectReturnCode))
        #expect(decodeError(hex("20 00")) == .truncated(field: .connAckFlags))
    }

    @Test("after an error the decoder is poisoned: it rethrows the same error and ignores input")
    func poisoning() throws {
        var decoder = MQTTStreamDecoder()
        decoder.append(hex("C0 00") + hex("60 02 00 01") + hex("D0 00"))
        #expect(try decoder.next() == .pingReq)  // packets before the error are still delivered
        #expect(throws: MQTTDecodeError.invalidFixedHeaderFlags(packetType: .pubRel, flags: 0)) { try decoder.next() }
        #expect(decoder.failure == .invalidFixedHeaderFlags(packetType: .pubRel, flags: 0))
        #expect(decoder.bufferedByteCount == 0)
        decoder.append(hex("C0 00"))
        #expect(decoder.bufferedByteCount == 0)
        for _ in 0..<3 {
            #expect(throws: MQTTDecodeError.invalidFixedHeaderFlags(packetType: .pubRel, flags: 0)) { try decoder.next() }
        }
    }
}
