import Testing
@testable import MQTTCore

@Suite("remaining length (MQTT 3.1.1 §2.2.3)")
struct RemainingLengthTests {
    /// Table 2.4 of the specification: the boundaries of each byte count.
    static let boundaries: [(value: Int, bytes: [UInt8])] = [
        (0, [0x00]),
        (127, [0x7F]),
        (128, [0x80, 0x01]),
        (16_383, [0xFF, 0x7F]),
        (16_384, [0x80, 0x80, 0x01]),
        (2_097_151, [0xFF, 0xFF, 0x7F]),
        (2_097_152, [0x80, 0x80, 0x80, 0x01]),
        (268_435_455, [0xFF, 0xFF, 0xFF, 0x7F]),
    ]

    @Test("boundary values encode to the bytes of Table 2.4 and parse back")
    func boundaryEncoding() {
        for (value, bytes) in Self.boundaries {
            var out: [UInt8] = []
            MQTTRemainingLength.write(value, into: &out)
            #expect(out == bytes, "value \(value)")
            #expect(MQTTRemainingLength.byteCount(of: value) == bytes.count, "value \(value)")
            #expect(MQTTRemainingLength.parse(bytes, from: 0, to: bytes.count)
                    == .complete(value: value, byteCount: bytes.count), "value \(value)")
            #expect(MQTTRemainingLength.parse(bytes, from: 0, to: bytes.count - 1) == .needMoreBytes, "value \(value)")
        }
    }

    @Test("PUBLISH packets with remaining length at each boundary up to 2097152 round-trip",
          arguments: [0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152])
    func publishAtBoundary(remainingLength: Int) throws {
        let packet: MQTTPacket
        if remainingLength == 0 {
            packet = .pingReq
        } else {
            // Topic "t" takes 3 bytes of the remaining length; the payload takes the rest.
            let payload = [UInt8](repeating: 0x5A, count: remainingLength - 3)
            packet = .publish(MQTTPublish(topic: "t", payload: payload))
        }
        let bytes = try packet.encoded()
        let lengthBytes = Self.boundaries.first { $0.value == remainingLength }!.bytes
        #expect(Array(bytes[1...lengthBytes.count]) == lengthBytes)
        #expect(bytes.count == 1 + lengthBytes.count + remainingLength)
        #expect(try decodeOne(bytes) == packet)
    }

    @Test("the largest remaining length, 268435455, is accepted as a header when the limit allows it")
    func largestHeader() throws {
        var decoder = MQTTStreamDecoder(maximumPacketSize: .max)
        decoder.append(hex("30 FF FF FF 7F"))
        #expect(try decoder.next() == nil)  // waiting for the body, not an error
        #expect(decoder.failure == nil)
    }

    @Test("the encoder refuses a remaining length above 268435455, whatever its own limit")
    func encoderRefusesAboveMaximum() throws {
        let unlimited = MQTTPacketEncoder(maximumPacketSize: .max)
        #expect(try unlimited.checkedSize(remainingLength: 268_435_455) == 268_435_460)
        #expect(throws: MQTTEncodeError.packetTooLarge(size: 268_435_461, limit: 268_435_460)) {
            try unlimited.checkedSize(remainingLength: 268_435_456)
        }
        #expect(MQTTPacketEncoder.protocolMaximumPacketSize == 268_435_460)
    }

    @Test("the encoder's own limit counts the fixed header")
    func encoderLimit() throws {
        let publish = MQTTPacket.publish(MQTTPublish(topic: "t", payload: [UInt8](repeating: 0, count: 20)))
        #expect(try MQTTPacketEncoder(maximumPacketSize: 25).encode(publish).count == 25)
        #expect(throws: MQTTEncodeError.packetTooLarge(size: 25, limit: 24)) {
            try MQTTPacketEncoder(maximumPacketSize: 24).encode(publish)
        }
    }

    @Test("non-minimal encodings are accepted (MQTT 3.1.1 does not forbid them)")
    func nonMinimal() throws {
        #expect(try decodeAll(hex("C0 80 00")) == [.pingReq])
        #expect(try decodeAll(hex("40 82 80 80 00 00 0A")) == [.pubAck(MQTTPubAck(packetId: 10))])
    }
}
