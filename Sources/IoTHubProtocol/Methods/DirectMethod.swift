/// A direct method request as the device receives it.
///
/// ```swift
/// let request = DirectMethodRequest(name: "reboot", requestId: "1", payload: Array(#"{"delay":5}"#.utf8))
/// let response = DirectMethodResponse(status: 200, requestId: request.requestId, payload: Array("null".utf8))
/// DeviceTopic.methodResponse(status: response.status, requestId: response.requestId).topic(for: me)
/// ```
public struct DirectMethodRequest: Sendable, Hashable {
    /// The method name.
    public var name: String
    /// The request id (`$rid` on MQTT, correlation id on AMQP) the response must echo.
    public var requestId: String
    /// The JSON payload as UTF-8 bytes (may be `null`).
    public var payload: [UInt8]

    public init(name: String, requestId: String, payload: [UInt8]) {
        self.name = name
        self.requestId = requestId
        self.payload = payload
    }
}

/// A device's answer to a direct method.
public struct DirectMethodResponse: Sendable, Hashable {
    /// The status the device reports; the service caller sees it as `status`.
    public var status: Int
    /// The request id of the request being answered.
    public var requestId: String
    /// The JSON payload as UTF-8 bytes; empty means `null`.
    public var payload: [UInt8]

    public init(status: Int, requestId: String, payload: [UInt8]) {
        self.status = status
        self.requestId = requestId
        self.payload = payload
    }
}

/// IoT Hub's limits for direct methods.
public enum DirectMethodLimits {
    /// Allowed `responseTimeoutInSeconds`.
    public static let responseTimeoutRange: ClosedRange<Int> = 5...300
    /// Default `responseTimeoutInSeconds`.
    public static let defaultResponseTimeout = 30
    /// Allowed `connectTimeoutInSeconds`.
    public static let connectTimeoutRange: ClosedRange<Int> = 0...300
    /// Default `connectTimeoutInSeconds`.
    public static let defaultConnectTimeout = 0
    /// The largest request or response payload (128 KiB).
    public static let maximumPayloadSize = 131_072
}
