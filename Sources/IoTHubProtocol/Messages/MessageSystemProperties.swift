/// The system properties of an IoT Hub message: set by the sender (message id, content type, …) or stamped by the
/// hub (connection device id, enqueued time, …).
public struct MessageSystemProperties: Sendable, Hashable {
    /// `$.mid` / `message-id`.
    public var messageId: String?
    /// `$.cid` / `correlation-id`.
    public var correlationId: String?
    /// `$.uid` / `user-id`.
    public var userId: String?
    /// `$.ct` / `content-type`, e.g. `application/json`.
    public var contentType: String?
    /// `$.ce` / `content-encoding`, e.g. `utf-8`.
    public var contentEncoding: String?
    /// `$.exp`: absolute expiry, ISO 8601.
    public var expiryTimeUTC: String?
    /// `$.ctime`: creation time, ISO 8601.
    public var creationTimeUTC: String?
    /// `$.ifid`: the IoT Plug and Play interface id.
    public var interfaceId: String?
    /// `$.on`: a module output name.
    public var outputName: String?
    /// `$.to`: the destination path (C2D: `/devices/d/messages/deviceBound`).
    public var to: String?
    /// `iothub-ack` on C2D messages: `none`, `positive`, `negative` or `full`.
    public var ack: String?

    /// `iothub-connection-device-id`, stamped by the hub.
    public var connectionDeviceId: String?
    /// `iothub-connection-module-id`, stamped by the hub.
    public var connectionModuleId: String?
    /// `iothub-connection-auth-method`, stamped by the hub (a JSON object as text).
    public var connectionAuthMethod: String?
    /// `iothub-connection-auth-generation-id`, stamped by the hub.
    public var connectionAuthGenerationId: String?
    /// `iothub-enqueuedtime`, stamped by the hub (ISO 8601).
    public var enqueuedTime: String?
    /// `iothub-message-source`: `Telemetry`, `twinChangeEvents`, … stamped by the hub.
    public var messageSource: String?

    public init() {}

    /// The MQTT property-bag keys that are system properties, with their field.
    // Key paths are immutable values; the type system just cannot mark WritableKeyPath Sendable.
    nonisolated(unsafe) static let mqttKeys: [(key: String, field: WritableKeyPath<MessageSystemProperties, String?>)] = [
        ("$.on", \.outputName), ("$.mid", \.messageId), ("$.cid", \.correlationId), ("$.uid", \.userId),
        ("$.ct", \.contentType), ("$.ce", \.contentEncoding), ("$.ifid", \.interfaceId), ("$.exp", \.expiryTimeUTC),
        ("$.ctime", \.creationTimeUTC), ("$.to", \.to), ("iothub-ack", \.ack),
    ]

    /// Calls `body` with the name (as the hub reports it) and value of each property a sender may set (message id
    /// through `iothub-ack`, in ``names`` order), skipping what is unset; the hub's own stamps are left out.
    /// Direct field reads, for the per-message path.
    @inlinable
    public func forEachSenderProperty(_ body: (String, String) -> Void) {
        if let messageId { body("message-id", messageId) }
        if let correlationId { body("correlation-id", correlationId) }
        if let userId { body("user-id", userId) }
        if let contentType { body("content-type", contentType) }
        if let contentEncoding { body("content-encoding", contentEncoding) }
        if let expiryTimeUTC { body("absolute-expiry-time", expiryTimeUTC) }
        if let creationTimeUTC { body("iothub-creation-time-utc", creationTimeUTC) }
        if let interfaceId { body("dt-dataschema", interfaceId) }
        if let outputName { body("iothub-outputname", outputName) }
        if let to { body("to", to) }
        if let ack { body("iothub-ack", ack) }
    }

    /// Each property's name as the hub reports it (AMQP / `iothub-…` names), with its field.
    // Key paths are immutable values; the type system just cannot mark WritableKeyPath Sendable.
    nonisolated(unsafe) static let names: [(name: String, field: WritableKeyPath<MessageSystemProperties, String?>)] = [
        ("message-id", \.messageId), ("correlation-id", \.correlationId), ("user-id", \.userId),
        ("content-type", \.contentType), ("content-encoding", \.contentEncoding),
        ("absolute-expiry-time", \.expiryTimeUTC), ("iothub-creation-time-utc", \.creationTimeUTC),
        ("dt-dataschema", \.interfaceId), ("iothub-outputname", \.outputName), ("to", \.to), ("iothub-ack", \.ack),
        ("iothub-connection-device-id", \.connectionDeviceId), ("iothub-connection-module-id", \.connectionModuleId),
        ("iothub-connection-auth-method", \.connectionAuthMethod),
        ("iothub-connection-auth-generation-id", \.connectionAuthGenerationId),
        ("iothub-enqueuedtime", \.enqueuedTime), ("iothub-message-source", \.messageSource),
    ]

    /// Names and values of the properties that are set, as the hub reports them (AMQP / `iothub-…` names),
    /// for read-back and monitoring.
    public var namedValues: [(name: String, value: String)] {
        Self.names.compactMap { name, field in self[keyPath: field].map { (name, $0) } }
    }

    /// Rebuilds properties from ``namedValues``; unknown names are ignored.
    public init(namedValues: [String: String]) {
        self.init()
        for (name, field) in Self.names {
            if let value = namedValues[name] { self[keyPath: field] = value }
        }
    }
}
