/// A device-to-cloud or cloud-to-device message: body bytes, application properties and system properties.
///
/// ```swift
/// var message = IoTHubMessage(body: Array(#"{"temp":21.5}"#.utf8))
/// message.properties["alert"] = "false"
/// message.systemProperties.contentType = "application/json"
/// message.systemProperties.contentEncoding = "utf-8"
/// ```
public struct IoTHubMessage: Sendable, Hashable {
    /// The payload; IoT Hub treats it as opaque bytes.
    public var body: [UInt8]
    /// Application properties. A property sent without a value (`k` with no `=` on MQTT) reads as `""`.
    public var properties: [String: String]
    /// System properties.
    public var systemProperties: MessageSystemProperties

    public init(body: [UInt8] = [], properties: [String: String] = [:],
                systemProperties: MessageSystemProperties = MessageSystemProperties()) {
        self.body = body
        self.properties = properties
        self.systemProperties = systemProperties
    }

    /// A message whose body is the UTF-8 form of `text`.
    public init(text: String, properties: [String: String] = [:]) {
        self.init(body: Array(text.utf8), properties: properties)
    }

    /// The largest device-to-cloud message IoT Hub accepts, counting body and properties (256 KiB).
    public static let maximumDeviceToCloudSize = 262_144
    /// The largest cloud-to-device message IoT Hub accepts (64 KiB).
    public static let maximumCloudToDeviceSize = 65_536

    /// The message size as IoT Hub counts it against its limits: body plus the UTF-8 lengths of property names
    /// and values (application and sender-set system properties).
    public var size: Int {
        var total = body.count
        for (key, value) in properties { total += key.utf8.count + value.utf8.count }
        // Counted under their MQTT keys ($.mid is 5, iothub-ack 10), field by field: this runs for every message.
        let system = systemProperties
        func count(_ value: String?, keyLength: Int) { if let value { total += keyLength + value.utf8.count } }
        count(system.outputName, keyLength: 4)
        count(system.messageId, keyLength: 5)
        count(system.correlationId, keyLength: 5)
        count(system.userId, keyLength: 5)
        count(system.contentType, keyLength: 4)
        count(system.contentEncoding, keyLength: 4)
        count(system.interfaceId, keyLength: 6)
        count(system.expiryTimeUTC, keyLength: 5)
        count(system.creationTimeUTC, keyLength: 7)
        count(system.to, keyLength: 4)
        count(system.ack, keyLength: 10)
        return total
    }

    /// The property bag for an MQTT telemetry topic, as the official Python device SDK orders it: system
    /// properties (`$.on`, `$.mid`, `$.cid`, `$.uid`, `$.ct`, `$.ce`, `$.ifid`, `$.exp`, `$.ctime`) first, then
    /// application properties sorted by key (code point order).
    public var telemetryPropertyBag: PropertyBag {
        var bag = PropertyBag()
        for (key, field) in MessageSystemProperties.mqttKeys where key != "$.to" && key != "iothub-ack" {
            if let value = systemProperties[keyPath: field], !value.isEmpty { bag.append(key, value) }
        }
        for key in properties.keys.sortedByCodePoints() {
            bag.append(key, properties[key])
        }
        return bag
    }

    /// The property bag for an MQTT C2D delivery topic, in IoT Hub's order: `$.mid`, `$.to`, `$.cid`, `$.uid`,
    /// `$.ct`, `$.ce`, `iothub-ack`, `$.exp`, then application properties sorted by key.
    public var cloudToDevicePropertyBag: PropertyBag {
        var bag = PropertyBag()
        let order: [(String, String?)] = [
            ("$.mid", systemProperties.messageId), ("$.to", systemProperties.to),
            ("$.cid", systemProperties.correlationId), ("$.uid", systemProperties.userId),
            ("$.ct", systemProperties.contentType), ("$.ce", systemProperties.contentEncoding),
            ("iothub-ack", systemProperties.ack), ("$.exp", systemProperties.expiryTimeUTC),
        ]
        for (key, value) in order { if let value { bag.append(key, value) } }
        for key in properties.keys.sortedByCodePoints() {
            bag.append(key, properties[key])
        }
        return bag
    }

    /// Fills system and application properties from a decoded property bag (telemetry or C2D topic).
    public init(body: [UInt8], propertyBag: PropertyBag) {
        self.init(body: body)
        for entry in propertyBag {
            if let field = MessageSystemProperties.mqttKeys.first(where: { $0.key == entry.key })?.field {
                systemProperties[keyPath: field] = entry.value ?? ""
            } else {
                properties[entry.key] = entry.value ?? ""
            }
        }
    }
}
