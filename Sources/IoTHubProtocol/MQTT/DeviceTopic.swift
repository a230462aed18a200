/// A topic a device publishes to: telemetry, twin requests and method responses.
///
/// The device SDK builds these with ``topic(for:)``; the hub classifies incoming PUBLISH topics with
/// ``init(parsing:identity:)``, which refuses anything else and other identities' topics.
///
/// ```swift
/// let me = DeviceIdentity(deviceId: "d1")
/// DeviceTopic.twinGet(requestId: "7").topic(for: me)   // "$iothub/twin/GET/?$rid=7"
/// try DeviceTopic(parsing: "devices/d1/messages/events/a=1", identity: me)   // .telemetry([("a","1")])
/// ```
public enum DeviceTopic: Sendable, Hashable {
    /// Telemetry (device-to-cloud message) with its property bag.
    case telemetry(PropertyBag)
    /// A request for the whole twin.
    case twinGet(requestId: String)
    /// A reported-properties patch.
    case twinReportedPatch(requestId: String)
    /// The answer to a direct method request.
    case methodResponse(status: Int, requestId: String)

    /// The topic string for `identity`. Telemetry ends in `/messages/events/` followed by the property bag.
    public func topic(for identity: DeviceIdentity) -> String {
        switch self {
        case .telemetry(let bag):
            "\(identity.topicBase)/messages/events/" + bag.encoded
        case .twinGet(let requestId):
            "$iothub/twin/GET/?$rid=" + PercentEncoding.encode(requestId)
        case .twinReportedPatch(let requestId):
            "$iothub/twin/PATCH/properties/reported/?$rid=" + PercentEncoding.encode(requestId)
        case .methodResponse(let status, let requestId):
            "$iothub/methods/res/\(status)/?$rid=" + PercentEncoding.encode(requestId)
        }
    }

    /// Classifies a topic published by `identity`.
    /// - Throws: ``MQTTNameError/unknownTopic(_:)`` for topics IoT Hub does not define,
    ///   ``MQTTNameError/foreignTopic(_:expected:)`` for another identity's topics, and
    ///   ``MQTTNameError/malformedTopic(_:reason:)`` for a missing `$rid` or a bad status.
    public init(parsing topic: String, identity: DeviceIdentity) throws(MQTTNameError) {
        if topic.hasPrefix("devices/") {
            if let bagStart = Self.telemetryBagStart(topic, identity: identity) {
                self = .telemetry(PropertyBag(decoding: topic.utf8[bagStart...]))
                return
            }
            if let other = Self.telemetryOwner(topic), other != identity {
                throw .foreignTopic(topic, expected: identity)
            }
            throw .unknownTopic(topic)
        }
        let (path, query) = TopicQuery.split(topic)
        let route = path.hasSuffix("/") ? path.dropLast() : path
        switch route {
        case "$iothub/twin/GET":
            self = .twinGet(requestId: try query.requestId(in: topic))
        case "$iothub/twin/PATCH/properties/reported":
            self = .twinReportedPatch(requestId: try query.requestId(in: topic))
        default:
            let prefix = "$iothub/methods/res/"
            guard route.hasPrefix(prefix) else { throw .unknownTopic(topic) }
            let statusText = route.dropFirst(prefix.count)
            guard let status = Int(statusText), (100...999).contains(status) else {
                throw .malformedTopic(topic, reason: "method status '\(statusText)' is not an integer from 100 to 999")
            }
            self = .methodResponse(status: status, requestId: try query.requestId(in: topic))
        }
    }

    /// Where the property bag starts when `topic` is `identity`'s telemetry topic
    /// (`devices/d[/modules/m]/messages/events[/bag]`), compared byte by byte without building the expected prefix:
    /// this runs for every message.
    private static func telemetryBagStart(_ topic: String, identity: DeviceIdentity) -> String.UTF8View.Index? {
        let bytes = topic.utf8
        var index = bytes.startIndex
        func consume(_ part: some Collection<UInt8>) -> Bool {
            for byte in part {
                guard index != bytes.endIndex, bytes[index] == byte else { return false }
                bytes.formIndex(after: &index)
            }
            return true
        }
        guard consume("devices/".utf8), consume(identity.deviceId.utf8) else { return nil }
        if let moduleId = identity.moduleId {
            guard consume("/modules/".utf8), consume(moduleId.utf8) else { return nil }
        }
        guard consume("/messages/events".utf8) else { return nil }
        if index == bytes.endIndex { return index }
        guard bytes[index] == UInt8(ascii: "/") else { return nil }
        return bytes.index(after: index)
    }

    /// The identity a `devices/d[/modules/m]/messages/events…` topic names, if it has that shape.
    private static func telemetryOwner(_ topic: String) -> DeviceIdentity? {
        let parts = topic.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count >= 4, parts[2] == "messages", parts[3] == "events" {
            return DeviceIdentity(deviceId: String(parts[1]))
        }
        if parts.count >= 6, parts[2] == "modules", parts[4] == "messages", parts[5] == "events" {
            return DeviceIdentity(deviceId: String(parts[1]), moduleId: String(parts[3]))
        }
        return nil
    }
}
