import Testing
@testable import MQTTCore

@Suite("stream decoder")
struct StreamDecoderTests {
    @Test("the default maximum packet size is 256 KiB + 4 KiB")
    func defaults() {
        #expect(MQTTStreamDecoder.defaultMaximumPacketSize == 266_240)
        let decoder = MQTTStreamDecoder()
        #expect(decoder.maximumPacketSize == 266_240)
        #expect(decoder.failure == nil)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test("next() returns nil on an empty decoder and on every proper prefix of a packet")
    func partialInput() throws {
        for vector in vectors {
            var decoder = MQTTStreamDecoder()
            #expect(try decoder.next() == nil)
            for byte in vector.bytes.dropLast() {
                decoder.append([byte])
                #expect(try decoder.next() == nil, "\(vector.name)")
            }
            decoder.append([vector.bytes.last!])
            #expect(try decoder.next() == vector.packet, "\(vector.name)")
            #expect(try decoder.next() == nil)
        }
    }

    @Test("a chunk holding many packets and a partial one yields the complete ones and keeps the rest")
    func coalescedWithRemainder() throws {
        let publish = MQTTPacket.publish(MQTTPublish(topic: "t", payload: [1, 2, 3], qos: .atLeastOnce, packetId: 5))
        let one = try publish.encoded()
        var decoder = MQTTStreamDecoder()
        decoder.append(one + one + one + one.prefix(4))
        #expect(try decoder.next() == publish)
        #expect(try decoder.next() == publish)
        #expect(try decoder.next() == publish)
        #expect(try decoder.next() == nil)
        #expect(decoder.bufferedByteCount == 4)
        decoder.append(one.dropFirst(4))
        #expect(try decoder.next() == publish)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test("every append overload feeds the same bytes")
    func appendOverloads() throws {
        let bytes = hex("C0 00 D0 00 E0 00")
        var a = MQTTStreamDecoder()
        a.append(bytes)
        var b = MQTTStreamDecoder()
        b.append(bytes[...])
        var c = MQTTStreamDecoder()
        bytes.withUnsafeBytes { c.append($0) }
        var d = MQTTStreamDecoder()
        d.append(AnySequence(bytes))
        for var decoder in [a, b, c, d] {
            var packets: [MQTTPacket] = []
            while let packet = try decoder.next() { packets.append(packet) }
            #expect(packets == [.pingReq, .pingResp, .disconnect])
        }
    }

    @Test("decoding N packets from one chunk or byte by byte moves at most O(total) bytes in compaction")
    func linearCompaction() throws {
        let publish = MQTTPacket.publish(MQTTPublish(topic: "sensors/temperature", payload: [UInt8](repeating: 7, count: 50)))
        let packetBytes = try publish.encoded()
        let stream = [UInt8]((0..<10_000).map { _ in packetBytes }.joined())

        var oneChunk = MQTTStreamDecoder()
        oneChunk.append(stream)
        var count = 0
        while try oneChunk.next() != nil { count += 1 }
        #expect(count == 10_000)
        #expect(oneChunk.bytesMovedByCompaction == 0)

        // Chunks of 1000 bytes never line up with packet boundaries, so a partial packet is always left over.
        var chunked = MQTTStreamDecoder()
        count = 0
        var offset = 0
        while offset < stream.count {
            chunked.append(stream[offset..<min(stream.count, offset + 1000)])
            offset += 1000
            while try chunked.next() != nil { count += 1 }
            #expect(chunked.bufferedByteCount < packetBytes.count)
        }
        #expect(count == 10_000)
        #expect(chunked.bytesMovedByCompaction <= stream.count)
    }

    @Test("a large packet arriving byte by byte behind many consumed ones is compacted once, not per byte")
    func bytewiseLargePacket() throws {
        let small = try MQTTPacket.pingReq.encoded()
        let big = try MQTTPacket.publish(MQTTPublish(topic: "t", payload: [UInt8](repeating: 1, count: 100_000))).encoded()
        var decoder = MQTTStreamDecoder()
        decoder.append([UInt8]((0..<5000).map { _ in small }.joined()) + big.prefix(10))
        var packets = 0
        while try decoder.next() != nil { packets += 1 }
        #expect(decoder.bufferedByteCount == 10)
        for byte in big.dropFirst(10) {
            decoder.append(CollectionOfOne(byte))
            while try decoder.next() != nil { packets += 1 }
        }
        #expect(packets == 5001)
        #expect(decoder.bytesMovedByCompaction == 10)
    }

    @Test("a consumed buffer larger than maximumRetainedCapacity is released, a small one kept")
    func retainedCapacity() throws {
        let big = try MQTTPacket.publish(MQTTPublish(topic: "t", payload: [UInt8](repeating: 1, count: 100_000))).encoded()
        var decoder = MQTTStreamDecoder(maximumRetainedCapacity: 1024)
        #expect(decoder.bufferCapacity == 0)  // nothing allocated before the first bytes arrive
        decoder.append(big)
        #expect(decoder.bufferCapacity >= big.count)
        #expect(try decoder.next() != nil)
        #expect(decoder.bufferedByteCount == 0)
        #expect(decoder.bufferCapacity == 0)  // released
        decoder.append(hex("C0 00"))
        let small = decoder.bufferCapacity
        #expect(small > 0 && small <= 1024)
        #expect(try decoder.next() == .pingReq)
        #expect(decoder.bufferCapacity == small)  // kept for reuse
    }

    @Test("a poisoned decoder releases its buffer")
    func poisonReleases() throws {
        var decoder = MQTTStreamDecoder()
        decoder.append(hex("C0 00") + [UInt8](repeating: 0, count: 10_000))
        #expect(try decoder.next() == .pingReq)
        #expect(throws: MQTTDecodeError.reservedPacketType(0)) { try decoder.next() }
        #expect(decoder.bufferCapacity == 0)
    }

    @Test("the size limit can be changed between packets")
    func changingLimit() throws {
        var decoder = MQTTStreamDecoder(maximumPacketSize: 2)
        decoder.append(hex("C0 00"))
        #expect(try decoder.next() == .pingReq)
        decoder.maximumPacketSize = 3
        decoder.append(hex("40 02 00 01"))
        #expect(throws: MQTTDecodeError.packetTooLarge(size: 4, limit: 3)) { try decoder.next() }
    }

    @Test("a header split across appends is only judged once complete")
    func splitHeader() throws {
        var decoder = MQTTStreamDecoder(maximumPacketSize: .max)
        decoder.append([0x30])
        #expect(try decoder.next() == nil)
        decoder.append([0x80])
        #expect(try decoder.next() == nil)
        decoder.append([0x01])  // remaining length 128
        #expect(try decoder.next() == nil)
        decoder.append(field("t") + [UInt8](repeating: 9, count: 125))
        #expect(try decoder.next() == .publish(MQTTPublish(topic: "t", payload: [UInt8](repeating: 9, count: 125))))
    }
}
