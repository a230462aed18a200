/// Parses complete packets: the first byte of the fixed header, then the body once it is fully buffered.
/// Every rule of MQTT 3.1.1 that makes a packet malformed is enforced here.
enum MQTTPacketParser {
    /// Validates the first byte of a fixed header and returns its packet type (MQTT 3.1.1 §2.2.1–2.2.2).
    static func packetType(ofFirstByte byte: UInt8) throws(MQTTDecodeError) -> MQTTPacketType {
        let nibble = byte >> 4
        let flags = byte & 0x0F
        guard let type = MQTTPacketType(rawValue: nibble) else { throw .reservedPacketType(nibble) }
        if let required = type.requiredFlags {
            guard flags == required else { throw .invalidFixedHeaderFlags(packetType: type, flags: flags) }
        } else {
            let qos = (flags >> 1) & 0x03
            if qos == 3 { throw .invalidQoS(qos) }
            if qos == 0 && flags & 0x08 != 0 { throw .invalidFixedHeaderFlags(packetType: .publish, flags: flags) }
        }
        return type
    }

    /// Checks the remaining length of packet types whose size is fixed, as soon as it is known. Longer than
    /// required is reported at once (without buffering the excess); shorter is left to the body parser,
    /// which names the truncated field.
    static func checkRemainingLength(_ length: Int, of type: MQTTPacketType) throws(MQTTDecodeError) {
        if let required = type.fixedRemainingLength, length > required {
            throw .trailingBytes(packetType: type, count: length - required)
        }
    }

    /// Parses the body `bytes[body]` of a packet whose first byte is `firstByte` (already validated).
    static func parse(firstByte: UInt8, bytes: [UInt8], body: Range<Int>) throws(MQTTDecodeError) -> MQTTPacket {
        var reader = MQTTByteReader(bytes: bytes, range: body)
        let type = MQTTPacketType(rawValue: firstByte >> 4)!
        let packet: MQTTPacket
        switch type {
        case .connect:
            packet = .connect(try parseConnect(&reader))
        case .connAck:
            packet = .connAck(try parseConnAck(&reader))
        case .publish:
            packet = .publish(try parsePublish(flags: firstByte & 0x0F, &reader))
        case .pubAck:
            packet = .pubAck(MQTTPubAck(packetId: try readPacketId(&reader, .pubAck)))
        case .pubRec:
            packet = .pubRec(MQTTPubRec(packetId: try readPacketId(&reader, .pubRec)))
        case .pubRel:
            packet = .pubRel(MQTTPubRel(packetId: try readPacketId(&reader, .pubRel)))
        case .pubComp:
            packet = .pubComp(MQTTPubComp(packetId: try readPacketId(&reader, .pubComp)))
        case .subscribe:
            packet = .subscribe(try parseSubscribe(&reader))
        case .subAck:
            packet = .subAck(try parseSubAck(&reader))
        case .unsubscribe:
            packet = .unsubscribe(try parseUnsubscribe(&reader))
        case .unsubAck:
            packet = .unsubAck(MQTTUnsubAck(packetId: try readPacketId(&reader, .unsubAck)))
        case .pingReq:
            packet = .pingReq
        case .pingResp:
            packet = .pingResp
        case .disconnect:
            packet = .disconnect
        }
        guard reader.isAtEnd else { throw .trailingBytes(packetType: type, count: reader.remaining) }
        return packet
    }

    private static func readPacketId(
        _ reader: inout MQTTByteReader, _ type: MQTTPacketType
    ) throws(MQTTDecodeError) -> UInt16 {
        let packetId = try reader.readUInt16(.packetIdentifier)
        guard packetId != 0 else { throw .invalidPacketIdentifier(packetType: type) }
        return packetId
    }

    // MARK: CONNECT (§3.1)

    private static let mqttName: [UInt8] = Array("MQTT".utf8)
    private static let mqisdpName: [UInt8] = Array("MQIsdp".utf8)

    private static func parseConnect(_ reader: inout MQTTByteReader) throws(MQTTDecodeError) -> MQTTConnect {
        // Protocol name and level come first, so that a CONNECT of another protocol version (whose later
        // fields may be laid out differently, as in MQTT 5) is reported as such.
        let name = try reader.readLengthPrefixed(.protocolName)
        let isMQTT = reader.bytes[name].elementsEqual(mqttName)
        guard isMQTT || reader.bytes[name].elementsEqual(mqisdpName) else {
            let shown = name.lowerBound..<min(name.upperBound, name.lowerBound + 64)
            throw .invalidProtocolName(String(decoding: reader.bytes[shown], as: UTF8.self))
        }
        let level = try reader.readByte(.protocolLevel)
        guard isMQTT && level == 4 else { throw .unsupportedProtocolLevel(level) }

        let flags = try reader.readByte(.connectFlags)
        if flags & MQTTConnectFlagBits.reserved != 0 { throw .invalidConnectFlags(reason: .reservedBitSet) }
        let hasWill = flags & MQTTConnectFlagBits.will != 0
        let willQoS = (flags & MQTTConnectFlagBits.willQoSMask) >> MQTTConnectFlagBits.willQoSShift
        let willRetain = flags & MQTTConnectFlagBits.willRetain != 0
        if hasWill {
            if willQoS == 3 { throw .invalidConnectFlags(reason: .invalidWillQoS) }
        } else {
            if willQoS != 0 { throw .invalidConnectFlags(reason: .willQoSWithoutWill) }
            if willRetain { throw .invalidConnectFlags(reason: .willRetainWithoutWill) }
        }
        let hasUsername = flags & MQTTConnectFlagBits.username != 0
        let hasPassword = flags & MQTTConnectFlagBits.password != 0
        if hasPassword && !hasUsername { throw .invalidConnectFlags(reason: .passwordWithoutUsername) }

        let keepAlive = try reader.readUInt16(.keepAlive)
        let clientId = try reader.readString(.clientId)
        var will: MQTTWill?
        if hasWill {
            let topic = try reader.readTopicName(.willTopic)
            let payload = try reader.readBinary(.willPayload)
            will = MQTTWill(topic: topic, payload: payload, qos: MQTTQoS(rawValue: willQoS)!, retain: willRetain)
        }
        let username = hasUsername ? try reader.readString(.username) : nil
        let password = hasPassword ? try reader.readBinary(.password) : nil
        return MQTTConnect(
            clientId: clientId,
            cleanSession: flags & MQTTConnectFlagBits.cleanSession != 0,
            keepAlive: keepAlive,
            username: username,
            password: password,
            will: will)
    }

    // MARK: CONNACK (§3.2)

    private static func parseConnAck(_ reader: inout MQTTByteReader) throws(MQTTDecodeError) -> MQTTConnAck {
        let flags = try reader.readByte(.connAckFlags)
        let code = try reader.readByte(.connectReturnCode)
        guard flags & 0xFE == 0 else { throw .invalidConnAckFlags(flags) }
        guard let returnCode = MQTTConnectReturnCode(rawValue: code) else { throw .invalidConnAckReturnCode(code) }
        let sessionPresent = flags == 1
        if sessionPresent && returnCode != .accepted { throw .invalidConnAckFlags(flags) }
        return MQTTConnAck(sessionPresent: sessionPresent, returnCode: returnCode)
    }

    // MARK: PUBLISH (§3.3)

    private static func parsePublish(
        flags: UInt8, _ reader: inout MQTTByteReader
    ) throws(MQTTDecodeError) -> MQTTPublish {
        let qos = MQTTQoS(rawValue: (flags >> 1) & 0x03)!  // QoS 3 was refused with the first byte
        let topic = try reader.readTopicName(.topicName)
        let packetId = qos == .atMostOnce ? nil : try readPacketId(&reader, .publish)
        return MQTTPublish(
            topic: topic,
            payload: reader.readRest(),
            qos: qos,
            packetId: packetId,
            retain: flags & 0x01 != 0,
            dup: flags & 0x08 != 0)
    }

    // MARK: SUBSCRIBE, SUBACK, UNSUBSCRIBE (§3.8–3.10)

    private static func parseSubscribe(_ reader: inout MQTTByteReader) throws(MQTTDecodeError) -> MQTTSubscribe {
        let packetId = try readPacketId(&reader, .subscribe)
        var subscriptions: [MQTTSubscription] = []
        while !reader.isAtEnd {
            let filter = try reader.readTopicFilter()
            let requested = try reader.readByte(.requestedQoS)
            guard let qos = MQTTQoS(rawValue: requested) else { throw .invalidQoS(requested) }
            subscriptions.append(MQTTSubscription(topicFilter: filter, qos: qos))
        }
        guard !subscriptions.isEmpty else { throw .emptySubscription(packetType: .subscribe) }
        return MQTTSubscribe(packetId: packetId, subscriptions: subscriptions)
    }

    private static func parseSubAck(_ reader: inout MQTTByteReader) throws(MQTTDecodeError) -> MQTTSubAck {
        let packetId = try readPacketId(&reader, .subAck)
        guard !reader.isAtEnd else { throw .emptySubscription(packetType: .subAck) }
        var returnCodes: [MQTTSubAckReturnCode] = []
        returnCodes.reserveCapacity(reader.remaining)
        while !reader.isAtEnd {
            let byte = try reader.readByte(.subAckReturnCode)
            guard let code = MQTTSubAckReturnCode(rawValue: byte) else { throw .invalidSubAckReturnCode(byte) }
            returnCodes.append(code)
        }
        return MQTTSubAck(packetId: packetId, returnCodes: returnCodes)
    }

    private static func parseUnsubscribe(_ reader: inout MQTTByteReader) throws(MQTTDecodeError) -> MQTTUnsubscribe {
        let packetId = try readPacketId(&reader, .unsubscribe)
        var filters: [String] = []
        while !reader.isAtEnd {
            filters.append(try reader.readTopicFilter())
        }
        guard !filters.isEmpty else { throw .emptySubscription(packetType: .unsubscribe) }
        return MQTTUnsubscribe(packetId: packetId, topicFilters: filters)
    }
}
