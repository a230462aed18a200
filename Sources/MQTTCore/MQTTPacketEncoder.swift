/// Encodes ``MQTTPacket`` values to MQTT 3.1.1 wire bytes, for either direction.
///
/// The encoder validates every packet first (string lengths, U+0000, topic names and filters, packet
/// identifiers, flag combinations, the size limit) and throws ``MQTTEncodeError`` without touching the
/// output buffer if anything is wrong. A valid packet is then written in one pass, without intermediate
/// arrays, after making room for it (growing the buffer geometrically, so appending many packets to one
/// buffer costs O(total bytes)).
///
/// ```swift
/// let encoder = MQTTPacketEncoder(maximumPacketSize: 262_144 + 4096)
/// var out: [UInt8] = []
/// try encoder.encode(.publish(MQTTPublish(topic: "a/b", payload: [0x68, 0x69], qos: .atLeastOnce, packetId: 10)),
///                    into: &out)
/// // out == [0x32, 0x09, 0x00, 0x03, 0x61, 0x2F, 0x62, 0x00, 0x0A, 0x68, 0x69]
/// try encoder.encode(.pingReq, into: &out)   // appends [0xC0, 0x00]
/// ```
public struct MQTTPacketEncoder: Sendable {
    /// 268,435,460 bytes: the largest packet MQTT 3.1.1 can express (1 type byte, 4 length bytes and a
    /// remaining length of 268,435,455).
    public static let protocolMaximumPacketSize = 1 + 4 + MQTTRemainingLength.maximum

    /// The largest packet, in bytes including the fixed header, this encoder produces; larger packets throw
    /// ``MQTTEncodeError/packetTooLarge(size:limit:)``. Defaults to ``protocolMaximumPacketSize``.
    public var maximumPacketSize: Int

    /// Creates an encoder with a packet size limit (fixed header included).
    public init(maximumPacketSize: Int = MQTTPacketEncoder.protocolMaximumPacketSize) {
        self.maximumPacketSize = maximumPacketSize
    }

    /// Appends the encoding of `packet` to `buffer`. On error `buffer` is unchanged.
    public func encode(_ packet: MQTTPacket, into buffer: inout [UInt8]) throws(MQTTEncodeError) {
        let remainingLength = try Self.validatedRemainingLength(of: packet)
        let size = try checkedSize(remainingLength: remainingLength)
        Self.reserve(size, in: &buffer)
        buffer.append(Self.firstByte(of: packet))
        MQTTRemainingLength.write(remainingLength, into: &buffer)
        Self.writeBody(of: packet, into: &buffer)
    }

    /// Returns the encoding of `packet` in a new array of exactly the right capacity.
    public func encode(_ packet: MQTTPacket) throws(MQTTEncodeError) -> [UInt8] {
        var buffer: [UInt8] = []
        try encode(packet, into: &buffer)
        return buffer
    }

    /// The number of bytes `packet` encodes to, fixed header included; throws like ``encode(_:into:)``.
    public func encodedSize(of packet: MQTTPacket) throws(MQTTEncodeError) -> Int {
        try checkedSize(remainingLength: Self.validatedRemainingLength(of: packet))
    }

    func checkedSize(remainingLength: Int) throws(MQTTEncodeError) -> Int {
        guard remainingLength <= MQTTRemainingLength.maximum else {
            throw .packetTooLarge(
                size: 1 + 4 + remainingLength,
                limit: min(maximumPacketSize, Self.protocolMaximumPacketSize))
        }
        let size = 1 + MQTTRemainingLength.byteCount(of: remainingLength) + remainingLength
        guard size <= maximumPacketSize else {
            throw .packetTooLarge(size: size, limit: maximumPacketSize)
        }
        return size
    }

    /// Makes room for `size` more bytes. Grows at least geometrically: reserving the exact total on every
    /// call would reallocate (and copy) the whole buffer for each packet appended, which is quadratic.
    @inline(__always)
    static func reserve(_ size: Int, in buffer: inout [UInt8]) {
        let needed = buffer.count + size
        if buffer.capacity < needed {
            buffer.reserveCapacity(Swift.max(needed, 2 * buffer.capacity))
        }
    }

    // MARK: Writing (the packet has been validated)

    static func firstByte(of packet: MQTTPacket) -> UInt8 {
        if case .publish(let publish) = packet {
            var byte: UInt8 = MQTTPacketType.publish.rawValue << 4 | publish.qos.rawValue << 1
            if publish.dup { byte |= 0x08 }
            if publish.retain { byte |= 0x01 }
            return byte
        }
        let type = packet.packetType
        return type.rawValue << 4 | (type.requiredFlags ?? 0)
    }

    static func writeBody(of packet: MQTTPacket, into buffer: inout [UInt8]) {
        switch packet {
        case .connect(let connect):
            writeConnect(connect, into: &buffer)
        case .connAck(let ack):
            buffer.append(ack.sessionPresent ? 1 : 0)
            buffer.append(ack.returnCode.rawValue)
        case .publish(let publish):
            buffer.appendMQTTString(publish.topic)
            if let packetId = publish.packetId { buffer.appendUInt16(packetId) }
            buffer.append(contentsOf: publish.payload)
        case .pubAck(let ack):
            buffer.appendUInt16(ack.packetId)
        case .pubRec(let ack):
            buffer.appendUInt16(ack.packetId)
        case .pubRel(let ack):
            buffer.appendUInt16(ack.packetId)
        case .pubComp(let ack):
            buffer.appendUInt16(ack.packetId)
        case .subscribe(let subscribe):
            buffer.appendUInt16(subscribe.packetId)
            for subscription in subscribe.subscriptions {
                buffer.appendMQTTString(subscription.topicFilter)
                buffer.append(subscription.qos.rawValue)
            }
        case .subAck(let ack):
            buffer.appendUInt16(ack.packetId)
            for code in ack.returnCodes { buffer.append(code.rawValue) }
        case .unsubscribe(let unsubscribe):
            buffer.appendUInt16(unsubscribe.packetId)
            for filter in unsubscribe.topicFilters { buffer.appendMQTTString(filter) }
        case .unsubAck(let ack):
            buffer.appendUInt16(ack.packetId)
        case .pingReq, .pingResp, .disconnect:
            break
        }
    }

    /// Protocol name "MQTT" with its length prefix, then protocol level 4.
    private static let connectProtocolHeader: [UInt8] = [0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04]

    private static func writeConnect(_ connect: MQTTConnect, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: connectProtocolHeader)
        var flags: UInt8 = 0
        if connect.cleanSession { flags |= MQTTConnectFlagBits.cleanSession }
        if let will = connect.will {
            flags |= MQTTConnectFlagBits.will | will.qos.rawValue << MQTTConnectFlagBits.willQoSShift
            if will.retain { flags |= MQTTConnectFlagBits.willRetain }
        }
        if connect.password != nil { flags |= MQTTConnectFlagBits.password }
        if connect.username != nil { flags |= MQTTConnectFlagBits.username }
        buffer.append(flags)
        buffer.appendUInt16(connect.keepAlive)
        buffer.appendMQTTString(connect.clientId)
        if let will = connect.will {
            buffer.appendMQTTString(will.topic)
            buffer.appendMQTTBinary(will.payload)
        }
        if let username = connect.username { buffer.appendMQTTString(username) }
        if let password = connect.password { buffer.appendMQTTBinary(password) }
    }
}

extension MQTTPacket {
    /// Appends this packet's encoding to `buffer`, with no size limit other than the protocol's.
    /// On error `buffer` is unchanged.
    ///
    /// ```swift
    /// var out: [UInt8] = []
    /// try MQTTPacket.pingReq.encode(into: &out)   // out == [0xC0, 0x00]
    /// ```
    public func encode(into buffer: inout [UInt8]) throws(MQTTEncodeError) {
        try MQTTPacketEncoder().encode(self, into: &buffer)
    }

    /// This packet's encoding, with no size limit other than the protocol's.
    public func encoded() throws(MQTTEncodeError) -> [UInt8] {
        try MQTTPacketEncoder().encode(self)
    }
}

extension Array where Element == UInt8 {
    /// Appends a big-endian 16-bit integer.
    @inline(__always)
    mutating func appendUInt16(_ value: UInt16) {
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    /// Appends a length-prefixed UTF-8 string whose length has been validated.
    @inline(__always)
    mutating func appendMQTTString(_ string: String) {
        appendUInt16(UInt16(truncatingIfNeeded: string.utf8.count))
        append(contentsOf: string.utf8)
    }

    /// Appends length-prefixed binary data whose length has been validated.
    @inline(__always)
    mutating func appendMQTTBinary(_ bytes: [UInt8]) {
        appendUInt16(UInt16(truncatingIfNeeded: bytes.count))
        append(contentsOf: bytes)
    }
}
