import Testing
@testable import MQTTCore

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, seeded, deterministic generator, so property tests replay
/// the same cases on every run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Bytes from a hex string such as `"C0 00"`; whitespace is ignored.
func hex(_ text: String) -> [UInt8] {
    let digits = text.filter { !$0.isWhitespace }
    precondition(digits.count % 2 == 0, "odd number of hex digits in \(text)")
    var bytes: [UInt8] = []
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        bytes.append(UInt8(digits[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

/// Feeds `bytes` in one chunk and returns every packet decoded.
func decodeAll(
    _ bytes: [UInt8], maximumPacketSize: Int = MQTTStreamDecoder.defaultMaximumPacketSize
) throws(MQTTDecodeError) -> [MQTTPacket] {
    var decoder = MQTTStreamDecoder(maximumPacketSize: maximumPacketSize)
    decoder.append(bytes)
    var packets: [MQTTPacket] = []
    while let packet = try decoder.next() { packets.append(packet) }
    return packets
}

/// Decodes `bytes`, which must hold exactly one complete packet and nothing else.
func decodeOne(_ bytes: [UInt8]) throws -> MQTTPacket {
    var decoder = MQTTStreamDecoder(maximumPacketSize: .max)
    decoder.append(bytes)
    let packet = try #require(try decoder.next())
    #expect(try decoder.next() == nil)
    #expect(decoder.bufferedByteCount == 0)
    return packet
}

/// The error a decoder reports for `bytes` (fed in one chunk), or `nil` if it reports none.
func decodeError(
    _ bytes: [UInt8], maximumPacketSize: Int = MQTTStreamDecoder.defaultMaximumPacketSize
) -> MQTTDecodeError? {
    do {
        _ = try decodeAll(bytes, maximumPacketSize: maximumPacketSize)
        return nil
    } catch {
        return error
    }
}

/// Concatenation of the encodings of `packets`.
func encodeAll(_ packets: [MQTTPacket]) throws -> [UInt8] {
    var bytes: [UInt8] = []
    for packet in packets { try packet.encode(into: &bytes) }
    return bytes
}

/// A whole packet from its first byte and a hand-written body shorter than 128 bytes.
func frame(_ firstByte: UInt8, body: [UInt8]) -> [UInt8] {
    precondition(body.count < 128)
    return [firstByte, UInt8(body.count)] + body
}

/// The body of a CONNECT with protocol name "MQTT", level 4 and the given flags, keep alive 60, followed by
/// `payload`.
func connectBody(name: String = "MQTT", level: UInt8 = 4, flags: UInt8, payload: [UInt8]) -> [UInt8] {
    let nameBytes = Array(name.utf8)
    return [0x00, UInt8(nameBytes.count)] + nameBytes + [level, flags, 0x00, 0x3C] + payload
}

/// A length-prefixed MQTT string or binary field.
func field(_ bytes: [UInt8]) -> [UInt8] {
    [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes
}

func field(_ text: String) -> [UInt8] { field(Array(text.utf8)) }
