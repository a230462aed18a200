/// An IoT Hub error code: the six-digit number in a service error body, whose first three digits are the HTTP status.
///
/// IoT Hub answers failed REST calls with a JSON body such as
/// `{"Message":"ErrorCode:DeviceNotFound;…","ExceptionMessage":"…"}` (older form) or
/// `{"errorCode":404001,"message":"…"}` (newer form). The same codes describe failures on MQTT and AMQP.
///
/// ```swift
/// let code = IoTHubErrorCode.deviceNotFound
/// print(code.rawValue, code.name, code.httpStatus)   // 404001 DeviceNotFound 404
/// ```
public enum IoTHubErrorCode: Int, Sendable, Hashable, CaseIterable {
    /// A request argument (body, header or query) is malformed or out of range.
    case argumentInvalid = 400004
    /// A required argument is missing.
    case argumentNull = 400005
    /// The request names an api-version or protocol version the hub does not support.
    case invalidProtocolVersion = 400001
    /// The device id or module id in the request is not a valid identifier.
    case deviceIdInvalid = 400002
    /// A message was larger than IoT Hub allows.
    case messageTooLarge = 413002
    /// The credentials are missing, malformed, expired or do not grant the operation.
    case iotHubUnauthorizedAccess = 401002
    /// The credential of a live connection is no longer valid (its SAS token expired); reconnect with a new one.
    case iotHubUnauthorized = 401003
    /// The hub's daily message quota or another quota is exhausted.
    case iotHubQuotaExceeded = 403002
    /// The device already has the maximum number of pending cloud-to-device messages (50).
    case deviceMaximumQueueDepthExceeded = 403004
    /// The device is disabled or its credentials were revoked.
    case deviceDisabled = 403005
    /// The device already has 10 file uploads in progress (SAS URIs issued and not yet notified or expired).
    case deviceMaximumActiveFileUploadLimitExceeded = 403006
    /// The device is not registered.
    case deviceNotFound = 404001
    /// The module is not registered.
    case moduleNotFound = 404010
    /// The job is not known.
    case jobNotFound = 404002
    /// The cloud-to-device message (lock token) is not known or no longer locked.
    case deviceMessageLockLost = 412020
    /// The CA certificate is not registered. (IoT Hub manages CA certificates through Azure Resource Manager, which
    /// answers `CertificateNotFound`; this hub serves them itself, with this code.)
    case certificateNotFound = 404050
    /// The consumer group does not exist on the event stream. (IoT Hub manages consumer groups through Azure
    /// Resource Manager; this hub serves them itself, with this code.)
    case consumerGroupNotFound = 404150
    /// A consumer group of that name already exists on the event stream (this hub's own code, as above).
    case consumerGroupAlreadyExists = 409150
    /// The routing endpoint, route or enrichment does not exist. (IoT Hub manages routing through Azure Resource
    /// Manager; this hub serves it itself, with this code.)
    case routingResourceNotFound = 404160
    /// A routing endpoint, route or enrichment of that name already exists (this hub's own code, as above).
    case routingResourceAlreadyExists = 409160
    /// The device is not connected, so a direct method cannot be delivered.
    case deviceNotOnline = 404103
    /// The device or module already exists.
    case deviceAlreadyExists = 409001
    /// The module already exists.
    case moduleAlreadyExistsOnDevice = 409301
    /// An `If-Match` etag did not match the current version.
    case preconditionFailed = 412002
    /// The request exceeded a throttling limit; retry later with backoff.
    case throttlingException = 429001
    /// An unexpected hub failure.
    case serverError = 500001
    /// The hub is temporarily unable to serve; retry later.
    case serviceUnavailable = 503001
    /// The device did not answer in time (direct method response timeout).
    case gatewayTimeout = 504101

    /// The HTTP status that carries this code: its first three digits.
    public var httpStatus: Int { rawValue / 1000 }

    /// The code's name as IoT Hub writes it in `ErrorCode:{name}` and `errorCode` fields.
    public var name: String {
        switch self {
        case .argumentInvalid: "ArgumentInvalid"
        case .argumentNull: "ArgumentNull"
        case .invalidProtocolVersion: "InvalidProtocolVersion"
        case .deviceIdInvalid: "DeviceIdInvalid"
        case .messageTooLarge: "MessageTooLarge"
        case .iotHubUnauthorizedAccess: "IotHubUnauthorizedAccess"
        case .iotHubUnauthorized: "IotHubUnauthorized"
        case .iotHubQuotaExceeded: "IotHubQuotaExceeded"
        case .deviceMaximumQueueDepthExceeded: "DeviceMaximumQueueDepthExceeded"
        case .deviceDisabled: "DeviceDisabled"
        case .deviceMaximumActiveFileUploadLimitExceeded: "DeviceMaximumActiveFileUploadLimitExceeded"
        case .deviceNotFound: "DeviceNotFound"
        case .moduleNotFound: "ModuleNotFound"
        case .jobNotFound: "JobNotFound"
        case .deviceMessageLockLost: "DeviceMessageLockLost"
        case .certificateNotFound: "CertificateNotFound"
        case .consumerGroupNotFound: "ConsumerGroupNotFound"
        case .consumerGroupAlreadyExists: "ConsumerGroupAlreadyExists"
        case .routingResourceNotFound: "RoutingResourceNotFound"
        case .routingResourceAlreadyExists: "RoutingResourceAlreadyExists"
        case .deviceNotOnline: "DeviceNotOnline"
        case .deviceAlreadyExists: "DeviceAlreadyExists"
        case .moduleAlreadyExistsOnDevice: "ModuleAlreadyExistsOnDevice"
        case .preconditionFailed: "PreconditionFailed"
        case .throttlingException: "ThrottlingException"
        case .serverError: "ServerError"
        case .serviceUnavailable: "ServiceUnavailable"
        case .gatewayTimeout: "GatewayTimeout"
        }
    }

    /// Finds a code by the name IoT Hub writes (`"DeviceNotFound"`), or `nil` when the name is unknown.
    public init?(name: String) {
        guard let code = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = code
    }
}
