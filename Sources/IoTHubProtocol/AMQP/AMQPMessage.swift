/// One AMQP 1.0 message as IoT Hub uses it: the standard properties, application properties, message annotations
/// and a body, with no codec attached (the SDK and the hub encode it with Qpid Proton).
///
/// ```swift
/// var message = AMQPMessage(body: Array(#"{"t":21}"#.utf8))
/// message.messageId = .string("m1")
/// message.applicationProperties["level"] = .string("info")
/// let telemetry = message.iotHubMessage          // IoTHubMessage with messageId "m1", properties ["level": "info"]
/// ```
public struct AMQPMessage: Sendable, Hashable {
    /// How the body is encoded.
    public enum Body: Sendable, Hashable {
        /// One `data` section (opaque bytes): telemetry, C2D, twin and method payloads.
        case data([UInt8])
        /// An `amqp-value` section: CBS put-token carries the token as a string.
        case value(AMQPValue)
    }

    public var messageId: AMQPValue?
    public var userId: [UInt8]?
    public var to: String?
    public var subject: String?
    public var replyTo: String?
    public var correlationId: AMQPValue?
    public var contentType: String?
    public var contentEncoding: String?
    /// Milliseconds since the Unix epoch.
    public var absoluteExpiryTime: Int64?
    /// Milliseconds since the Unix epoch.
    public var creationTime: Int64?
    public var applicationProperties: [String: AMQPValue]
    /// Message annotations; keys are symbols.
    public var messageAnnotations: [String: AMQPValue]
    public var body: Body

    public init(body: [UInt8] = [], applicationProperties: [String: AMQPValue] = [:],
                messageAnnotations: [String: AMQPValue] = [:]) {
        self.body = .data(body)
        self.applicationProperties = applicationProperties
        self.messageAnnotations = messageAnnotations
    }

    /// The body's bytes: a data section as is, a string or symbol value as UTF-8, a binary value as is.
    public var bodyBytes: [UInt8] {
        switch body {
        case .data(let bytes): bytes
        case .value(.string(let text)), .value(.symbol(let text)): Array(text.utf8)
        case .value(.binary(let bytes)): bytes
        case .value: []
        }
    }

    /// The message-format of Microsoft's batch: one transfer whose body is a series of data sections, each a
    /// complete encoded message. The official C SDK sends telemetry this way, even one message at a time.
    public static let batchMessageFormat: UInt32 = 0x8001_3700

    // MARK: IoT Hub messages

    /// The IoT Hub message this AMQP message carries: standard properties become system properties and
    /// application properties are kept as text (a null or binary value reads as `""`).
    public var iotHubMessage: IoTHubMessage {
        var message = IoTHubMessage(body: bodyBytes)
        for (key, value) in applicationProperties { message.properties[key] = value.text ?? "" }
        var system = MessageSystemProperties()
        system.messageId = messageId?.text
        system.correlationId = correlationId?.text
        system.userId = userId.map { String(decoding: $0, as: UTF8.self) }
        system.contentType = contentType
        system.contentEncoding = contentEncoding
        system.to = to
        system.expiryTimeUTC = absoluteExpiryTime.map(Self.iso8601)
        system.creationTimeUTC = creationTime.map(Self.iso8601)
        if case .string(let name)? = messageAnnotations["iothub-outputname"] { system.outputName = name }
        if case .string(let id)? = messageAnnotations["iothub-interface-id"] { system.interfaceId = id }
        message.systemProperties = system
        return message
    }

    /// The AMQP form of an IoT Hub message, as IoT Hub delivers cloud-to-device messages: system properties in
    /// the standard properties (message id and correlation id as strings), application properties as strings.
    public init(_ message: IoTHubMessage) {
        self.init(body: message.body)
        let system = message.systemProperties
        messageId = system.messageId.map(AMQPValue.string)
        correlationId = system.correlationId.map(AMQPValue.string)
        userId = system.userId.map { Array($0.utf8) }
        contentType = system.contentType
        contentEncoding = system.contentEncoding
        to = system.to
        absoluteExpiryTime = system.expiryTimeUTC.flatMap(Self.milliseconds)
        creationTime = system.creationTimeUTC.flatMap(Self.milliseconds)
        for (key, value) in message.properties { applicationProperties[key] = .string(value) }
    }

    static func iso8601(_ milliseconds: Int64) -> String {
        Timestamp(nanosecondsSince1970: milliseconds &* 1_000_000).iso8601
    }

    /// Milliseconds since 1970 of an ISO 8601 time (as IoT Hub's time properties are written); `nil` when it is not one.
    public static func milliseconds(_ text: String) -> Int64? {
        guard let timestamp = Timestamp(iso8601: text) else { return nil }
        return timestamp.secondsSince1970 * 1000 + Int64(timestamp.nanoseconds / 1_000_000)
    }
}
