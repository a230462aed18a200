/// Why a device client operation failed, and what to do about it.
///
/// A struct rather than an enum, so that new kinds of failure (for example from a new transport) do not break your
/// `switch` statements. Compare ``code`` to tell failures apart; ``detail`` carries the reason in words, and
/// ``underlyingCode`` the number the transport library reported, when it did.
///
/// ```swift
/// do {
///     try await client.send(message)
/// } catch let error as DeviceClientError where error.code == .queueFull {
///     // Back off: the client is offline and its queue is at its bound.
/// }
/// ```
public struct DeviceClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure: compare with `==` (or match with `case .queueFull:` in a `switch` with a `default`).
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Base: String, Sendable, Hashable {
            case invalidConfiguration, tlsConfiguration, unauthorized, connectionFailed, notConnected, queueFull
            case tooLarge, timeout, twinRequestFailed, retriesExhausted, closed, transportFailure
        }

        fileprivate let base: Base

        /// The connection string, credentials or options given to the client are malformed: fix the configuration.
        public static let invalidConfiguration = Code(base: .invalidConfiguration)
        /// The TLS context could not be built (missing or unreadable CA or key file, OpenSSL failure): check the files.
        public static let tlsConfiguration = Code(base: .tlsConfiguration)
        /// The hub refused the credentials (wrong key, expired token, disabled or unknown device): check them.
        public static let unauthorized = Code(base: .unauthorized)
        /// The network connection failed or dropped; the client retries by its retry policy.
        public static let connectionFailed = Code(base: .connectionFailed)
        /// The operation needs a started client: call ``DeviceClient/connect()`` first.
        public static let notConnected = Code(base: .notConnected)
        /// The outbound queue is at its bound: slow down, or raise ``DeviceClientOptions/queue``.
        public static let queueFull = Code(base: .queueFull)
        /// A message, property set or payload is over IoT Hub's limit: make it smaller.
        public static let tooLarge = Code(base: .tooLarge)
        /// The hub did not answer within ``DeviceClientOptions/operationTimeout``: try again later.
        public static let timeout = Code(base: .timeout)
        /// The hub answered a twin request with an error status (see ``DeviceClientError/status``).
        public static let twinRequestFailed = Code(base: .twinRequestFailed)
        /// Reconnecting gave up after the retry policy's attempts: call ``DeviceClient/connect()`` to start again.
        public static let retriesExhausted = Code(base: .retriesExhausted)
        /// The client was closed: create a new one to continue.
        public static let closed = Code(base: .closed)
        /// The transport library (libmosquitto for MQTT) reported an error; see ``DeviceClientError/underlyingCode``.
        /// Usually out of memory or file descriptors: free resources or lower the number of clients.
        public static let transportFailure = Code(base: .transportFailure)

        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// What went wrong, in words (the reason, the hub's message, or the transport library's text).
    public let detail: String
    /// The transport library's error code (for example a libmosquitto `MOSQ_ERR_*`), when one caused this.
    public let underlyingCode: Int?
    /// The hub's status for ``Code/twinRequestFailed``.
    public let status: Int?
    /// The counts behind the failure: queued messages for ``Code/queueFull``, the size for ``Code/tooLarge``, the
    /// attempts for ``Code/retriesExhausted``.
    public let count: Int?
    /// The bound behind the failure: queued bytes for ``Code/queueFull``, the limit for ``Code/tooLarge``.
    public let limit: Int?

    private init(_ code: Code, _ detail: String, underlyingCode: Int? = nil, status: Int? = nil, count: Int? = nil,
                 limit: Int? = nil) {
        self.code = code
        self.detail = detail
        self.underlyingCode = underlyingCode
        self.status = status
        self.count = count
        self.limit = limit
    }

    /// The connection string or credentials given to the client are malformed.
    public static func invalidConfiguration(_ reason: String) -> Self { Self(.invalidConfiguration, reason) }
    /// The TLS context could not be built.
    public static func tlsConfiguration(_ reason: String) -> Self { Self(.tlsConfiguration, reason) }
    /// The hub refused the credentials.
    public static func unauthorized(_ reason: String) -> Self { Self(.unauthorized, reason) }
    /// The network connection failed or dropped.
    public static func connectionFailed(_ reason: String) -> Self { Self(.connectionFailed, reason) }
    /// The client is not started: call ``DeviceClient/connect()`` first.
    public static let notConnected = Self(.notConnected, "not started")
    /// The outbound queue holds `messages` items and `bytes` bytes, its bound.
    public static func queueFull(messages: Int, bytes: Int) -> Self {
        Self(.queueFull, "\(messages) messages, \(bytes) bytes", count: messages, limit: bytes)
    }
    /// `size` bytes is over the limit of `limit`.
    public static func tooLarge(size: Int, limit: Int) -> Self {
        Self(.tooLarge, "\(size) bytes, limit \(limit)", count: size, limit: limit)
    }
    /// `operation` got no answer in time.
    public static func timeout(_ operation: String) -> Self { Self(.timeout, operation) }
    /// The hub answered a twin request with `status`.
    public static func twinRequestFailed(status: Int, message: String) -> Self {
        Self(.twinRequestFailed, message, status: status)
    }
    /// Reconnecting gave up after `attempts`; `lastError` is the last attempt's failure.
    public static func retriesExhausted(attempts: Int, lastError: String) -> Self {
        Self(.retriesExhausted, lastError, count: attempts)
    }
    /// The client was closed.
    public static let closed = Self(.closed, "closed")
    /// The transport library failed with its own error `code`, described by `message`.
    public static func transportFailure(code: Int, message: String) -> Self {
        Self(.transportFailure, message, underlyingCode: code)
    }

    public var description: String {
        switch code.base {
        case .invalidConfiguration: "invalid client configuration: \(detail)"
        case .tlsConfiguration: "TLS setup failed: \(detail)"
        case .unauthorized:
            "the hub refused the credentials (\(detail)); check the device key or token, and that the device is enabled"
        case .connectionFailed: "connection failed: \(detail); the client retries by its retry policy"
        case .notConnected: "the client is not started; call connect() first (a started client queues while it reconnects)"
        case .queueFull:
            "the outbound queue is full (\(count ?? 0) messages, \(limit ?? 0) bytes); slow down or raise the queue bounds"
        case .tooLarge: "\(count ?? 0) bytes is over IoT Hub's limit of \(limit ?? 0)"
        case .timeout: "\(detail) timed out; the hub did not answer within the operation timeout"
        case .twinRequestFailed: "the hub answered the twin request with \(status ?? 0): \(detail)"
        case .retriesExhausted:
            "gave up reconnecting after \(count ?? 0) attempts (last error: \(detail)); call connect() to try again"
        case .closed: "the client is closed; create a new DeviceClient"
        case .transportFailure: "transport error \(underlyingCode ?? 0): \(detail)"
        }
    }
}

extension DeviceClientError.Code {
    /// Matches an error against a code in `catch` clauses: `catch DeviceClientError.Code.queueFull { … }`.
    public static func ~= (pattern: Self, error: any Error) -> Bool {
        (error as? DeviceClientError)?.code == pattern
    }
}
