/// Why a device client operation failed; each case says what to do about it.
public enum DeviceClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The connection string or credentials given to the client are malformed.
    case invalidConfiguration(String)
    /// The TLS context could not be built (missing or unreadable CA file, OpenSSL failure).
    case tlsConfiguration(String)
    /// The hub refused the credentials (CONNACK 4 or 5): wrong key, expired token, disabled or unknown device.
    case unauthorized(String)
    /// The network connection failed or dropped.
    case connectionFailed(String)
    /// The operation needs a started client: call ``DeviceClient/connect()`` first. (Once started, a client queues
    /// messages while it reconnects.)
    case notConnected
    /// The outbound queue is at its bound (queue policy `failFast`, or `dropOldest` evicted this message).
    case queueFull(messages: Int, bytes: Int)
    /// A message, property set or payload is over IoT Hub's limit.
    case tooLarge(size: Int, limit: Int)
    /// The hub did not answer within the operation timeout.
    case timeout(String)
    /// The hub answered a twin request with an error status.
    case twinRequestFailed(status: Int, message: String)
    /// Reconnecting gave up after the retry policy's attempts.
    case retriesExhausted(attempts: Int, lastError: String)
    /// The client was closed; create a new one to continue.
    case closed
    /// libmosquitto reported an error.
    case mqtt(code: Int32, message: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let reason): "invalid client configuration: \(reason)"
        case .tlsConfiguration(let reason): "TLS setup failed: \(reason)"
        case .unauthorized(let reason):
            "the hub refused the credentials (\(reason)); check the device key or token, and that the device is enabled"
        case .connectionFailed(let reason): "connection failed: \(reason); the client retries by its retry policy"
        case .notConnected: "the client is not started; call connect() first (a started client queues while it reconnects)"
        case .queueFull(let messages, let bytes):
            "the outbound queue is full (\(messages) messages, \(bytes) bytes); slow down or raise the queue bounds"
        case .tooLarge(let size, let limit): "\(size) bytes is over IoT Hub's limit of \(limit)"
        case .timeout(let operation): "\(operation) timed out; the hub did not answer within the operation timeout"
        case .twinRequestFailed(let status, let message): "the hub answered the twin request with \(status): \(message)"
        case .retriesExhausted(let attempts, let lastError):
            "gave up reconnecting after \(attempts) attempts (last error: \(lastError)); call connect() to try again"
        case .closed: "the client is closed; create a new DeviceClient"
        case .mqtt(let code, let message): "MQTT error \(code): \(message)"
        }
    }
}
