import Testing
@testable import MQTTCore

@Suite("encoder errors")
struct EncoderErrorTests {
    /// Expects `packet` to fail with `error` and to leave the output buffer untouched.
    private func expectFailure(_ packet: MQTTPacket, _ error: MQTTEncodeError,
                               encoder: MQTTPacketEncoder = MQTTPacketEncoder(),
                               sourceLocation: SourceLocation = #_sourceLocation) {
        var buffer: [UInt8] = [0xAB, 0xCD]
        #expect(throws: error, sourceLocation: sourceLocation) { try encoder.encode(packet, into: &buffer) }
        #expect(buffer == [0xAB, 0xCD], sourceLocation: sourceLocation)
        #expect(throws: error, sourceLocation: sourceLocation) { try encoder.encodedSize(of: packet) }
    }

    @Test("topic names: too long, empty, wildcards, U+0000")
    func topicNames() {
        let long = String(repeating: "a", count: 65536)
        expectFailure(.publish(MQTTPublish(topic: long, payload: [])), .fieldTooLong(field: .topicName, length: 65536))
        let longUTF8 = String(repeating: "é", count: 32768)  // 65536 UTF-8 bytes, 32768 characters
        expectFailure(.publish(MQTTPublish(topic: longUTF8, payload: [])), .fieldTooLong(field: .topicName, length: 65536))
        expectFailure(.publish(MQTTPublish(topic: "", payload: [])), .emptyTopic)
        expectFailure(.publish(MQTTPublish(topic: "a/+", payload: [])), .wildcardInTopicName("a/+"))
        expectFailure(.publish(MQTTPublish(topic: "a/#", payload: [])), .wildcardInTopicName("a/#"))
        expectFailure(.publish(MQTTPublish(topic: "a\u{0}", payload: [])), .nullCharacter(field: .topicName))
        let will = MQTTWill(topic: "w/+", payload: [])
        expectFailure(.connect(MQTTConnect(clientId: "d", will: will)), .wildcardInTopicName("w/+"))
    }

    @Test("PUBLISH packet identifier and DUP rules")
    func publishIdentifiers() {
        expectFailure(.publish(MQTTPublish(topic: "t", payload: [], qos: .atLeastOnce)), .missingPacketIdentifier)
        expectFailure(.publish(MQTTPublish(topic: "t", payload: [], qos: .exactlyOnce, packetId: 0)),
                      .invalidPacketIdentifier(packetType: .publish))
        expectFailure(.publish(MQTTPublish(topic: "t", payload: [], packetId: 1)), .unexpectedPacketIdentifier)
        expectFailure(.publish(MQTTPublish(topic: "t", payload: [], dup: true)), .dupWithQoS0)
    }

    @Test("packet identifier 0 is refused on every type that carries one")
    func zeroIdentifiers() {
        expectFailure(.pubAck(MQTTPubAck(packetId: 0)), .invalidPacketIdentifier(packetType: .pubAck))
        expectFailure(.pubRec(MQTTPubRec(packetId: 0)), .invalidPacketIdentifier(packetType: .pubRec))
        expectFailure(.pubRel(MQTTPubRel(packetId: 0)), .invalidPacketIdentifier(packetType: .pubRel))
        expectFailure(.pubComp(MQTTPubComp(packetId: 0)), .invalidPacketIdentifier(packetType: .pubComp))
        expectFailure(.unsubAck(MQTTUnsubAck(packetId: 0)), .invalidPacketIdentifier(packetType: .unsubAck))
        expectFailure(.subAck(MQTTSubAck(packetId: 0, returnCodes: [.failure])), .invalidPacketIdentifier(packetType: .subAck))
        expectFailure(.subscribe(MQTTSubscribe(packetId: 0, subscriptions: [MQTTSubscription(topicFilter: "a", qos: .atMostOnce)])),
                      .invalidPacketIdentifier(packetType: .subscribe))
        expectFailure(.unsubscribe(MQTTUnsubscribe(packetId: 0, topicFilters: ["a"])),
                      .invalidPacketIdentifier(packetType: .unsubscribe))
    }

    @Test("subscriptions: empty lists and invalid topic filters")
    func subscriptions() {
        expectFailure(.subscribe(MQTTSubscribe(packetId: 1, subscriptions: [])), .emptySubscription(packetType: .subscribe))
        expectFailure(.unsubscribe(MQTTUnsubscribe(packetId: 1, topicFilters: [])), .emptySubscription(packetType: .unsubscribe))
        expectFailure(.subAck(MQTTSubAck(packetId: 1, returnCodes: [])), .emptySubscription(packetType: .subAck))
        for filter in ["a/#/b", "a+", "#a", ""] {
            expectFailure(.subscribe(MQTTSubscribe(packetId: 1, subscriptions: [MQTTSubscription(topicFilter: filter, qos: .atLeastOnce)])),
                          .invalidTopicFilter(filter))
            expectFailure(.unsubscribe(MQTTUnsubscribe(packetId: 1, topicFilters: ["ok", filter])), .invalidTopicFilter(filter))
        }
        expectFailure(.unsubscribe(MQTTUnsubscribe(packetId: 1, topicFilters: ["a\u{0}"])), .nullCharacter(field: .topicFilter))
        expectFailure(.unsubscribe(MQTTUnsubscribe(packetId: 1, topicFilters: [String(repeating: "a", count: 70_000)])),
                      .fieldTooLong(field: .topicFilter, length: 70_000))
    }

    @Test("CONNECT fields: lengths, U+0000, password without user name")
    func connectFields() {
        expectFailure(.connect(MQTTConnect(clientId: "d", password: [1])), .passwordWithoutUsername)
        expectFailure(.connect(MQTTConnect(clientId: String(repeating: "c", count: 65536))),
                      .fieldTooLong(field: .clientId, length: 65536))
        expectFailure(.connect(MQTTConnect(clientId: "d\u{0}")), .nullCharacter(field: .clientId))
        expectFailure(.connect(MQTTConnect(clientId: "d", username: "\u{0}")), .nullCharacter(field: .username))
        expectFailure(.connect(MQTTConnect(clientId: "d", username: "u", password: [UInt8](repeating: 0, count: 65536))),
                      .fieldTooLong(field: .password, length: 65536))
        expectFailure(.connect(MQTTConnect(clientId: "d", will: MQTTWill(topic: "w", payload: [UInt8](repeating: 0, count: 70_000)))),
                      .fieldTooLong(field: .willPayload, length: 70_000))
        expectFailure(.connect(MQTTConnect(clientId: "d", will: MQTTWill(topic: "", payload: []))), .emptyTopic)
    }

    @Test("CONNACK refusing the connection must not claim a session")
    func connAck() {
        expectFailure(.connAck(MQTTConnAck(sessionPresent: true, returnCode: .notAuthorized)), .sessionPresentWithRefusal)
    }

    @Test("packets over the encoder's size limit are refused")
    func sizeLimit() {
        let encoder = MQTTPacketEncoder(maximumPacketSize: 1000)
        let publish = MQTTPacket.publish(MQTTPublish(topic: "t", payload: [UInt8](repeating: 0, count: 1000)))
        expectFailure(publish, .packetTooLarge(size: 1006, limit: 1000), encoder: encoder)
    }
}
