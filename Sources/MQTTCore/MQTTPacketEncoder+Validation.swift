/// Validation and size computation: the first pass of encoding, which throws before anything is written.
extension MQTTPacketEncoder {
    /// Validates `packet` and returns its remaining length (which may exceed the protocol maximum; the
    /// caller checks that).
    static func validatedRemainingLength(of packet: MQTTPacket) throws(MQTTEncodeError) -> Int {
        switch packet {
        case .connect(let connect):
            return try connectSize(connect)
        case .connAck(let ack):
            if ack.sessionPresent && ack.returnCode != .accepted { throw .sessionPresentWithRefusal }
            return 2
        case .publish(let publish):
            return try publishSize(publish)
        case .pubAck(let ack):
            try checkPacketId(ack.packetId, .pubAck)
            return 2
        case .pubRec(let ack):
            try checkPacketId(ack.packetId, .pubRec)
            return 2
        case .pubRel(let ack):
            try checkPacketId(ack.packetId, .pubRel)
            return 2
        case .pubComp(let ack):
            try checkPacketId(ack.packetId, .pubComp)
            return 2
        case .subscribe(let subscribe):
            try checkPacketId(subscribe.packetId, .subscribe)
            guard !subscribe.subscriptions.isEmpty else { throw .emptySubscription(packetType: .subscribe) }
            var size = 2
            for subscription in subscribe.subscriptions {
                size += try topicFilterSize(subscription.topicFilter) + 1
            }
            return size
        case .subAck(let ack):
            try checkPacketId(ack.packetId, .subAck)
            guard !ack.returnCodes.isEmpty else { throw .emptySubscription(packetType: .subAck) }
            return 2 + ack.returnCodes.count
        case .unsubscribe(let unsubscribe):
            try checkPacketId(unsubscribe.packetId, .unsubscribe)
            guard !unsubscribe.topicFilters.isEmpty else { throw .emptySubscription(packetType: .unsubscribe) }
            var size = 2
            for filter in unsubscribe.topicFilters {
                size += try topicFilterSize(filter)
            }
            return size
        case .unsubAck(let ack):
            try checkPacketId(ack.packetId, .unsubAck)
            return 2
        case .pingReq, .pingResp, .disconnect:
            return 0
        }
    }

    private static func connectSize(_ connect: MQTTConnect) throws(MQTTEncodeError) -> Int {
        // Protocol name (2 + 4), level (1), flags (1), keep alive (2).
        var size = 10
        size += try stringSize(connect.clientId, .clientId)
        if let will = connect.will {
            size += try topicNameSize(will.topic, .willTopic)
            size += try binarySize(will.payload, .willPayload)
        }
        if let username = connect.username {
            size += try stringSize(username, .username)
        }
        if let password = connect.password {
            guard connect.username != nil else { throw .passwordWithoutUsername }
            size += try binarySize(password, .password)
        }
        return size
    }

    private static func publishSize(_ publish: MQTTPublish) throws(MQTTEncodeError) -> Int {
        var size = try topicNameSize(publish.topic, .topicName)
        if publish.qos == .atMostOnce {
            if publish.packetId != nil { throw .unexpectedPacketIdentifier }
            if publish.dup { throw .dupWithQoS0 }
        } else {
            guard let packetId = publish.packetId else { throw .missingPacketIdentifier }
            try checkPacketId(packetId, .publish)
            size += 2
        }
        return size + publish.payload.count
    }

    private static func checkPacketId(_ packetId: UInt16, _ type: MQTTPacketType) throws(MQTTEncodeError) {
        if packetId == 0 { throw .invalidPacketIdentifier(packetType: type) }
    }

    /// Size of a length-prefixed UTF-8 string field.
    private static func stringSize(_ string: String, _ field: MQTTField) throws(MQTTEncodeError) -> Int {
        let length = string.utf8.count
        guard length <= 65535 else { throw .fieldTooLong(field: field, length: length) }
        if string.utf8.contains(0) { throw .nullCharacter(field: field) }
        return 2 + length
    }

    /// Size of a length-prefixed binary field.
    private static func binarySize(_ bytes: [UInt8], _ field: MQTTField) throws(MQTTEncodeError) -> Int {
        guard bytes.count <= 65535 else { throw .fieldTooLong(field: field, length: bytes.count) }
        return 2 + bytes.count
    }

    /// Size of a length-prefixed topic name (PUBLISH topic or will topic).
    private static func topicNameSize(_ topic: String, _ field: MQTTField) throws(MQTTEncodeError) -> Int {
        let length = topic.utf8.count
        guard length <= 65535 else { throw .fieldTooLong(field: field, length: length) }
        switch MQTTTopicRules.checkName(topic.utf8) {
        case nil: return 2 + length
        case .empty: throw .emptyTopic
        case .nullCharacter: throw .nullCharacter(field: field)
        case .wildcard, .misplacedWildcard: throw .wildcardInTopicName(topic)
        }
    }

    /// Size of a length-prefixed topic filter.
    private static func topicFilterSize(_ filter: String) throws(MQTTEncodeError) -> Int {
        let length = filter.utf8.count
        guard length <= 65535 else { throw .fieldTooLong(field: .topicFilter, length: length) }
        switch MQTTTopicRules.checkFilter(filter.utf8) {
        case nil: return 2 + length
        case .nullCharacter: throw .nullCharacter(field: .topicFilter)
        case .empty, .wildcard, .misplacedWildcard: throw .invalidTopicFilter(filter)
        }
    }
}
