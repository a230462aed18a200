/// The MQTT CONNECT user name IoT Hub expects: `{host}/{clientId}/?{query}`.
///
/// The host and client id are not URL-encoded; query keys and values are. The official Python device SDK sends
/// `api-version=2019-10-01&DeviceClientType=…`, or `api-version=2020-09-30&DeviceClientType=…&model-id=dtmi:…` for
/// IoT Plug and Play devices. A hub must accept any api-version and ignore unknown query keys.
///
/// ```swift
/// let name = MQTTUserName(hostName: "hub.local", identity: DeviceIdentity(deviceId: "d1"),
///                         clientType: "swift-iot-hub/0.1")
/// name.description   // "hub.local/d1/?api-version=2019-10-01&DeviceClientType=swift-iot-hub%2F0.1"
/// let parsed = try MQTTUserName(parsing: name.description)
/// ```
public struct MQTTUserName: Sendable, Hashable, CustomStringConvertible {
    /// The api-version the official Python device SDK sends.
    public static let defaultAPIVersion = "2019-10-01"
    /// The api-version the official Python device SDK sends when a Plug and Play model id is set.
    public static let plugAndPlayAPIVersion = "2020-09-30"

    /// The hub host name.
    public var hostName: String
    /// The device or module.
    public var identity: DeviceIdentity
    /// The query parameters, decoded, in order.
    public var query: [(key: String, value: String)]

    /// Builds the user name a device sends.
    /// - Parameters:
    ///   - clientType: the `DeviceClientType` value (SDK name, version and platform).
    ///   - modelId: an IoT Plug and Play model id (`dtmi:…`); switches the api-version as the official SDKs do.
    ///   - apiVersion: overrides the api-version.
    public init(hostName: String, identity: DeviceIdentity, clientType: String, modelId: String? = nil,
                apiVersion: String? = nil) {
        self.hostName = hostName
        self.identity = identity
        var query: [(key: String, value: String)] = [
            ("api-version", apiVersion ?? (modelId == nil ? Self.defaultAPIVersion : Self.plugAndPlayAPIVersion)),
            ("DeviceClientType", clientType),
        ]
        if let modelId { query.append(("model-id", modelId)) }
        self.query = query
    }

    /// Parses a user name received in CONNECT: `h/d/?q`, `h/d/m/?q`, `h/d`, or the older form without `?`
    /// (`h/d/api-version=…`).
    /// - Throws: ``MQTTNameError/malformedUserName(_:reason:)``.
    public init(parsing text: String) throws(MQTTNameError) {
        // Ids may contain '?' but never '/', and query values are URL-encoded, so the query is the last
        // '/'-separated segment when it starts with '?' (or, in the older form, with 'api-version=').
        // The text is split on Unicode scalars, as IoT Hub splits it, not on Swift's grapheme clusters: a
        // character such as U+0600 (a prepended mark) would otherwise swallow the '/' after it.
        var segments = text.unicodeScalars.split(separator: "/", omittingEmptySubsequences: false).map(Substring.init)
        var queryText: Substring = ""
        if let last = segments.last, segments.count > 2 {
            if last.unicodeScalars.first == "?" {
                queryText = Substring(last.unicodeScalars.dropFirst())
                segments.removeLast()
            } else if last.unicodeScalars.starts(with: "api-version=".unicodeScalars) {
                queryText = last
                segments.removeLast()
            } else if last.isEmpty {
                segments.removeLast()
            }
        }
        guard segments.count == 2 || segments.count == 3, segments.allSatisfy({ !$0.isEmpty }) else {
            throw .malformedUserName(text, reason: "expected {host}/{deviceId}/?api-version=… or {host}/{deviceId}/{moduleId}/?api-version=…")
        }
        self.hostName = String(segments[0])
        self.identity = DeviceIdentity(
            deviceId: String(segments[1]), moduleId: segments.count == 3 ? String(segments[2]) : nil)
        self.query = queryText.isEmpty ? [] : queryText.unicodeScalars.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (PercentEncoding.decodeLenient(Substring(parts[0])),
                    parts.count > 1 ? PercentEncoding.decodeLenient(Substring(parts[1])) : "")
        }
    }

    /// The value of a query parameter, matched case-insensitively.
    public func queryValue(_ key: String) -> String? {
        query.first { $0.key.lowercased() == key.lowercased() }?.value
    }

    /// The `api-version` query value.
    public var apiVersion: String? { queryValue("api-version") }
    /// The `DeviceClientType` query value.
    public var clientType: String? { queryValue("DeviceClientType") }
    /// The `model-id` query value (IoT Plug and Play).
    public var modelId: String? { queryValue("model-id") }

    public var description: String {
        let encoded = query.map { PercentEncoding.encode($0.key) + "=" + PercentEncoding.encode($0.value) }
        return "\(hostName)/\(identity.clientId)/?" + encoded.joined(separator: "&")
    }

    public static func == (lhs: MQTTUserName, rhs: MQTTUserName) -> Bool {
        lhs.description == rhs.description
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}

/// An MQTT user name, client id or topic does not follow IoT Hub's conventions.
public enum MQTTNameError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The CONNECT user name has the wrong shape.
    case malformedUserName(String, reason: String)
    /// The topic is not one IoT Hub defines for this direction.
    case unknownTopic(String)
    /// The topic belongs to another device or module.
    case foreignTopic(String, expected: DeviceIdentity)
    /// The topic has IoT Hub's shape but a bad part (request id, status, property bag).
    case malformedTopic(String, reason: String)

    public var description: String {
        switch self {
        case .malformedUserName(let name, let reason): "MQTT user name '\(name)' is malformed: \(reason)"
        case .unknownTopic(let topic): "'\(topic)' is not an IoT Hub topic"
        case .foreignTopic(let topic, let expected):
            "'\(topic)' belongs to another identity; '\(expected)' may only use its own topics"
        case .malformedTopic(let topic, let reason): "topic '\(topic)' is malformed: \(reason)"
        }
    }
}
