/// A topic the hub publishes to a device: C2D messages, twin responses and notifications, method requests.
///
/// The hub builds these with ``topic(for:)``; the device SDK classifies what it receives with
/// ``init(parsing:identity:)``.
///
/// ```swift
/// let me = DeviceIdentity(deviceId: "d1")
/// HubTopic.twinResponse(status: 204, requestId: "3", version: 5).topic(for: me)
/// // "$iothub/twin/res/204/?$rid=3&$version=5"
/// ```
public enum HubTopic: Sendable, Hashable {
    /// A cloud-to-device message with its property bag.
    case cloudToDevice(PropertyBag)
    /// The answer to a twin GET or PATCH; `version` is the new reported version after a PATCH.
    case twinResponse(status: Int, requestId: String, version: Int64?)
    /// A desired-properties patch notification.
    case desiredPropertiesPatch(version: Int64?)
    /// A direct method request.
    case methodRequest(name: String, requestId: String)
    /// A message routed to a module input.
    case moduleInput(name: String, PropertyBag)

    /// The topic string for `identity`.
    public func topic(for identity: DeviceIdentity) -> String {
        switch self {
        case .cloudToDevice(let bag):
            return "devices/\(identity.deviceId)/messages/devicebound/" + bag.encoded
        case .twinResponse(let status, let requestId, let version):
            var topic = "$iothub/twin/res/\(status)/?$rid=" + PercentEncoding.encode(requestId)
            if let version { topic += "&$version=\(version)" }
            return topic
        case .desiredPropertiesPatch(let version):
            return "$iothub/twin/PATCH/properties/desired/" + (version.map { "?$version=\($0)" } ?? "")
        case .methodRequest(let name, let requestId):
            return "$iothub/methods/POST/\(PercentEncoding.encode(name))/?$rid=" + PercentEncoding.encode(requestId)
        case .moduleInput(let name, let bag):
            return "\(identity.topicBase)/inputs/\(PercentEncoding.encode(name))/" + bag.encoded
        }
    }

    /// Classifies a topic the hub published to `identity`.
    public init(parsing topic: String, identity: DeviceIdentity) throws(MQTTNameError) {
        let c2dBase = "devices/\(identity.deviceId)/messages/devicebound"
        if topic == c2dBase || topic.hasPrefix(c2dBase + "/") {
            self = .cloudToDevice(PropertyBag(decoding: topic.dropFirst(min(topic.count, c2dBase.count + 1))))
            return
        }
        let inputBase = "\(identity.topicBase)/inputs/"
        if identity.moduleId != nil, topic.hasPrefix(inputBase) {
            let rest = topic.dropFirst(inputBase.count)
            let name = rest.prefix { $0 != "/" }
            guard !name.isEmpty else { throw .malformedTopic(topic, reason: "it has no input name") }
            self = .moduleInput(name: PercentEncoding.decodeLenient(name),
                                PropertyBag(decoding: rest.dropFirst(min(rest.count, name.count + 1))))
            return
        }
        let (path, query) = TopicQuery.split(topic)
        let route = path.hasSuffix("/") ? path.dropLast() : path
        if route == "$iothub/twin/PATCH/properties/desired" {
            self = .desiredPropertiesPatch(version: try query.version(in: topic))
        } else if route.hasPrefix("$iothub/twin/res/") {
            let statusText = route.dropFirst("$iothub/twin/res/".count)
            guard let status = Int(statusText) else {
                throw .malformedTopic(topic, reason: "twin status '\(statusText)' is not an integer")
            }
            self = .twinResponse(status: status, requestId: try query.requestId(in: topic),
                                 version: try query.version(in: topic))
        } else if route.hasPrefix("$iothub/methods/POST/") {
            let name = route.dropFirst("$iothub/methods/POST/".count)
            guard !name.isEmpty, !name.contains("/") else {
                throw .malformedTopic(topic, reason: "it has no single method name segment")
            }
            self = .methodRequest(name: PercentEncoding.decodeLenient(name), requestId: try query.requestId(in: topic))
        } else {
            throw .unknownTopic(topic)
        }
    }
}
