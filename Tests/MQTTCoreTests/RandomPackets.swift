@testable import MQTTCore

/// Generates random but valid packets for property tests.
struct RandomPackets {
    var rng: SplitMix64

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func bool() -> Bool { Bool.random(using: &rng) }
    mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }

    /// Characters for names, including multi-byte UTF-8 and '$'; no '/', '+', '#' or U+0000.
    static let levelCharacters: [String] = [
        "a", "b", "c", "x", "Z", "0", "9", "-", "_", ".", " ", "$", "é", "ß", "日", "本", "😀", "\u{7F}", "\u{FFFF}",
    ]
    /// Characters for free-form strings (client ids, user names): anything but U+0000.
    static let anyCharacters = levelCharacters + ["/", "+", "#", "\u{1}", "\u{10FFFF}"]

    mutating func text(_ alphabet: [String], length: ClosedRange<Int>) -> String {
        var result = ""
        for _ in 0..<int(length) { result += alphabet[int(0...(alphabet.count - 1))] }
        return result
    }

    mutating func bytes(maxCount: Int = 64) -> [UInt8] {
        let count: Int
        switch int(0...99) {
        case 0..<5: count = 0
        case 5..<90: count = int(0...maxCount)
        case 90..<99: count = int(0...400)
        default: count = int(16_000...20_000)  // crosses the 2-byte remaining-length boundary
        }
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    mutating func qos() -> MQTTQoS { MQTTQoS(rawValue: UInt8(int(0...2)))! }
    mutating func packetId() -> UInt16 { chance(10) ? [1, 0xFFFF, 0x100][int(0...2)] : UInt16(int(1...65535)) }

    mutating func topicName() -> String {
        var levels: [String] = []
        for _ in 0..<int(1...5) { levels.append(text(Self.levelCharacters, length: 0...6)) }
        if chance(10) { levels[0] = "$iothub" }
        let topic = levels.joined(separator: "/")
        return topic.isEmpty ? "t" : topic
    }

    mutating func topicFilter() -> String {
        let count = int(1...5)
        var levels: [String] = []
        for index in 0..<count {
            if index == count - 1 && chance(20) {
                levels.append("#")
            } else if chance(20) {
                levels.append("+")
            } else {
                levels.append(text(Self.levelCharacters, length: 0...6))
            }
        }
        let filter = levels.joined(separator: "/")
        return filter.isEmpty ? "f" : filter
    }

    mutating func will() -> MQTTWill {
        MQTTWill(topic: topicName(), payload: bytes(), qos: qos(), retain: bool())
    }

    mutating func connect() -> MQTTConnect {
        let username: String? = chance(60) ? text(Self.anyCharacters, length: 0...20) : nil
        return MQTTConnect(
            clientId: text(Self.anyCharacters, length: 0...30),
            cleanSession: bool(),
            keepAlive: UInt16(int(0...65535)),
            username: username,
            password: username != nil && chance(70) ? bytes() : nil,
            will: chance(40) ? will() : nil)
    }

    mutating func publish() -> MQTTPublish {
        let qos = qos()
        return MQTTPublish(
            topic: topicName(),
            payload: bytes(),
            qos: qos,
            packetId: qos == .atMostOnce ? nil : packetId(),
            retain: bool(),
            dup: qos != .atMostOnce && bool())
    }

    mutating func packet() -> MQTTPacket {
        switch int(0...13) {
        case 0: return .connect(connect())
        case 1:
            let code = MQTTConnectReturnCode.allCases[int(0...5)]
            return .connAck(MQTTConnAck(sessionPresent: code == .accepted && bool(), returnCode: code))
        case 2: return .publish(publish())
        case 3: return .pubAck(MQTTPubAck(packetId: packetId()))
        case 4: return .pubRec(MQTTPubRec(packetId: packetId()))
        case 5: return .pubRel(MQTTPubRel(packetId: packetId()))
        case 6: return .pubComp(MQTTPubComp(packetId: packetId()))
        case 7:
            let subscriptions = (0..<int(1...6)).map { _ in MQTTSubscription(topicFilter: topicFilter(), qos: qos()) }
            return .subscribe(MQTTSubscribe(packetId: packetId(), subscriptions: subscriptions))
        case 8:
            let codes = (0..<int(1...6)).map { _ in MQTTSubAckReturnCode.allCases[int(0...3)] }
            return .subAck(MQTTSubAck(packetId: packetId(), returnCodes: codes))
        case 9:
            let filters = (0..<int(1...6)).map { _ in topicFilter() }
            return .unsubscribe(MQTTUnsubscribe(packetId: packetId(), topicFilters: filters))
        case 10: return .unsubAck(MQTTUnsubAck(packetId: packetId()))
        case 11: return .pingReq
        case 12: return .pingResp
        default: return .disconnect
        }
    }
}
