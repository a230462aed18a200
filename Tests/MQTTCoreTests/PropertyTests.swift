import Testing
@testable import MQTTCore

@Suite("property tests with a seeded SplitMix64")
struct PropertyTests {
    @Test("SplitMix64 is deterministic")
    func prngIsDeterministic() {
        var a = SplitMix64(seed: 42)
        var b = SplitMix64(seed: 42)
        var c = SplitMix64(seed: 43)
        let first = (0..<8).map { _ in a.next() }
        #expect(first == (0..<8).map { _ in b.next() })
        #expect(first != (0..<8).map { _ in c.next() })
    }

    @Test("3000 random valid packets round-trip exactly")
    func randomPacketsRoundTrip() throws {
        var random = RandomPackets(seed: 0x5EED_0001)
        let encoder = MQTTPacketEncoder()
        for _ in 0..<3000 {
            let packet = random.packet()
            let bytes = try encoder.encode(packet)
            #expect(try encoder.encodedSize(of: packet) == bytes.count)
            let decoded = try decodeOne(bytes)
            #expect(decoded == packet)
            #expect(try encoder.encode(decoded) == bytes)
        }
    }

    @Test("a stream of many packets split at random points decodes to the same sequence")
    func randomSplits() throws {
        var random = RandomPackets(seed: 0x5EED_0002)
        let packets = (0..<400).map { _ in random.packet() }
        let stream = try encodeAll(packets)
        for trial in 0..<40 {
            // Trial 0 feeds one byte at a time; the others use random chunk sizes up to a random bound.
            let bound = trial == 0 ? 1 : [1, 2, 7, 64, 1000, 40_000][random.int(0...5)]
            var decoder = MQTTStreamDecoder(maximumPacketSize: .max)
            var decoded: [MQTTPacket] = []
            var offset = 0
            while offset < stream.count {
                let end = min(stream.count, offset + random.int(1...bound))
                switch random.int(0...3) {
                case 0: decoder.append(stream[offset..<end])
                case 1: decoder.append(Array(stream[offset..<end]))
                case 2: stream[offset..<end].withUnsafeBytes { decoder.append($0) }
                default: decoder.append(stream[offset..<end].lazy.map { $0 })
                }
                offset = end
                while let packet = try decoder.next() { decoded.append(packet) }
            }
            #expect(decoded == packets, "trial \(trial), chunk bound \(bound)")
            #expect(decoder.bufferedByteCount == 0)
            #expect(decoder.bytesMovedByCompaction <= stream.count)
        }
    }

    @Test("random garbage never traps or hangs: it yields valid packets, needs more bytes, or a typed error")
    func randomGarbage() throws {
        var random = RandomPackets(seed: 0x5EED_0003)
        var outcomes = [0, 0, 0]  // packets only, waiting for more, error
        for round in 0..<6000 {
            let bytes = try garbage(round: round, random: &random)
            let limit = [16, 300, MQTTStreamDecoder.defaultMaximumPacketSize][random.int(0...2)]
            var decoder = MQTTStreamDecoder(maximumPacketSize: limit)
            decoder.append(bytes)
            var decoded: [MQTTPacket] = []
            var calls = 0
            do throws(MQTTDecodeError) {
                while let packet = try decoder.next() {
                    decoded.append(packet)
                    calls += 1
                    // Every packet consumes at least two bytes, so this bounds the loop.
                    #expect(calls <= bytes.count / 2)
                    if calls > bytes.count / 2 { break }
                }
                outcomes[decoder.bufferedByteCount == 0 ? 0 : 1] += 1
            } catch {
                outcomes[2] += 1
                // Poisoned: the same typed error again.
                #expect(throws: error) { try decoder.next() }
            }
            // Whatever the decoder accepted is valid: it re-encodes and decodes to itself.
            for packet in decoded {
                let again = try packet.encoded()
                #expect(try decodeOne(again) == packet)
            }
        }
        // The generator is meant to exercise all three outcomes.
        #expect(outcomes.allSatisfy { $0 > 100 }, "\(outcomes)")
    }

    /// Random bytes, random bytes behind a plausible first byte, or mutated valid packets.
    private func garbage(round: Int, random: inout RandomPackets) throws -> [UInt8] {
        switch round % 3 {
        case 0:
            return (0..<random.int(0...256)).map { _ in UInt8(truncatingIfNeeded: random.int(0...255)) }
        case 1:
            let first: [UInt8] = [0x10, 0x20, 0x30, 0x32, 0x34, 0x3B, 0x40, 0x62, 0x82, 0x90, 0xA2, 0xB0, 0xC0]
            let body = (0..<random.int(0...40)).map { _ in UInt8(truncatingIfNeeded: random.int(0...255)) }
            return [first[random.int(0...(first.count - 1))], UInt8(body.count)] + body
        default:
            var bytes = try encodeAll((0..<random.int(1...3)).map { _ in random.packet() })
            for _ in 0..<random.int(1...3) {
                switch random.int(0...2) {
                case 0: bytes[random.int(0...(bytes.count - 1))] = UInt8(truncatingIfNeeded: random.int(0...255))
                case 1: bytes.removeLast(random.int(0...min(3, bytes.count - 1)))
                default: bytes.insert(UInt8(truncatingIfNeeded: random.int(0...255)), at: random.int(0...bytes.count))
                }
            }
            return bytes
        }
    }
}
