// libFuzzer target `iothub-topics`: IoT Hub's MQTT names in IoTHubProtocol: DeviceTopic, HubTopic,
// DeviceSubscription, PropertyBag, TopicQuery and MQTTUserName.
// Built together with the sources of Sources/IoTHubProtocol as module IoTHubProtocol (see scripts/fuzz.sh).
//
// Input: byte 0 chooses the identity the topic is parsed for, the rest is the text (MQTT strings are UTF-8;
// other bytes are decoded with replacement characters). Each parser must either throw its typed error or return
// a value that survives a trip through its own formatter: value → text → value gives the same value.

private let identities = [
    DeviceIdentity(deviceId: "d1"),
    DeviceIdentity(deviceId: "d1", moduleId: "m1"),
    DeviceIdentity(deviceId: "pump-01"),
    DeviceIdentity(deviceId: "pump-01", moduleId: "$edgeHub"),
    DeviceIdentity(deviceId: "a.b%c?d=e"),
    DeviceIdentity(deviceId: "x", moduleId: "filter(1)"),
]

private func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("iothub-topics: " + message()) }
}

private func entries(_ bag: PropertyBag) -> [[UInt8]] {
    bag.entries.map { Array($0.key.utf8) + [0xFF] + ($0.value.map { Array($0.utf8) } ?? [0xFE]) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func iotHubTopicsFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 1 else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    let identity = identities[Int(input[0]) % identities.count]
    let text = String(decoding: input[1...], as: UTF8.self)

    // Device → hub topics, as the hub classifies them.
    do {
        let topic = try DeviceTopic(parsing: text, identity: identity)
        let formatted = topic.topic(for: identity)
        do {
            let again = try DeviceTopic(parsing: formatted, identity: identity)
            check(again == topic, "DeviceTopic \(text.debugDescription) -> \(formatted.debugDescription) parsed differently")
        } catch {
            check(false, "DeviceTopic \(formatted.debugDescription) (from \(text.debugDescription)) does not parse: \(error)")
        }
        check(MQTTTopicFilterCheck.isValidTopicName(formatted) || !MQTTTopicFilterCheck.isValidTopicName(text),
              "DeviceTopic formatted an invalid MQTT topic name \(formatted.debugDescription)")
    } catch {
        _ = error.description
    }

    // Hub → device topics, as the device SDK classifies them.
    do {
        let topic = try HubTopic(parsing: text, identity: identity)
        let formatted = topic.topic(for: identity)
        do {
            let again = try HubTopic(parsing: formatted, identity: identity)
            check(again == topic, "HubTopic \(text.debugDescription) -> \(formatted.debugDescription) parsed differently")
        } catch {
            check(false, "HubTopic \(formatted.debugDescription) (from \(text.debugDescription)) does not parse: \(error)")
        }
    } catch {
        _ = error.description
    }

    // SUBSCRIBE filters.
    if let subscription = try? DeviceSubscription(parsing: text, identity: identity) {
        let filter = subscription.filter(for: identity)
        check(filter == text, "DeviceSubscription \(text.debugDescription) formats as \(filter.debugDescription)")
        check((try? DeviceSubscription(parsing: filter, identity: identity)) == subscription, "DeviceSubscription round trip")
    }

    // Property bags: decoding is lenient (never fails); decode → encode → decode is a fixed point, and the
    // encoded form is plain ASCII without '&' or '=' inside keys and values.
    let bag = PropertyBag(decoding: text[...])
    let encoded = bag.encoded
    check(encoded.utf8.allSatisfy { $0 < 0x80 && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "?") },
          "PropertyBag encoded \(encoded.debugDescription) is not plain ASCII")
    let decodedAgain = PropertyBag(decoding: encoded[...])
    check(entries(decodedAgain) == entries(bag), "PropertyBag \(text.debugDescription) -> \(encoded.debugDescription) changed")
    check(decodedAgain.encoded == encoded, "PropertyBag encoding is not stable")
    for entry in bag.entries.prefix(4) { _ = bag[entry.key] }
    let message = IoTHubMessage(body: [], propertyBag: bag)
    _ = message.cloudToDevicePropertyBag.encoded
    _ = message.systemProperties.namedValues

    // $iothub query strings.
    let (path, query) = TopicQuery.split(text)
    check(text.unicodeScalars.starts(with: path.unicodeScalars), "TopicQuery path is not a prefix")
    _ = try? query.requestId(in: text)
    if let version = try? query.version(in: text) { check(version >= 0, "negative $version") }

    // CONNECT user names.
    do {
        let name = try MQTTUserName(parsing: text)
        let formatted = name.description
        do {
            let again = try MQTTUserName(parsing: formatted)
            check(again == name, "MQTTUserName \(text.debugDescription) -> \(formatted.debugDescription) parsed as \(again.description.debugDescription)")
            check(again.identity == name.identity && again.hostName == name.hostName,
                  "MQTTUserName \(text.debugDescription): identity or host changed through \(formatted.debugDescription)")
            check(again.apiVersion == name.apiVersion && again.clientType == name.clientType && again.modelId == name.modelId,
                  "MQTTUserName query values changed")
        } catch {
            check(false, "MQTTUserName \(formatted.debugDescription) (from \(text.debugDescription)) does not parse: \(error)")
        }
    } catch {
        _ = error.description
    }
    return 0
}

/// MQTT topic-name rules (MQTT 3.1.1 §4.7), as MQTTCore applies them: non-empty, at most 65535 UTF-8 bytes, no
/// U+0000, '+' or '#'. (IoTHubProtocol does not depend on MQTTCore, so the rule is restated here.)
private enum MQTTTopicFilterCheck {
    static func isValidTopicName(_ topic: String) -> Bool {
        let bytes = topic.utf8
        return !bytes.isEmpty && bytes.count <= 65535 && !bytes.contains { $0 == 0 || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") }
    }
}
