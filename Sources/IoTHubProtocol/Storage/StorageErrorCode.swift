/// The Azure Storage errors the hub's blob endpoint answers with: the HTTP status, and the code that
/// `azure-storage-blob` maps to its exceptions (`x-ms-error-code` and `<Error><Code>` in the body).
public struct StorageErrorCode: Sendable, Hashable, CustomStringConvertible {
    /// The HTTP status.
    public let status: Int
    /// The error code, e.g. `AuthenticationFailed`.
    public let code: String

    public init(status: Int, code: String) {
        self.status = status
        self.code = code
    }

    public var description: String { "\(status) \(code)" }

    public static let noAuthenticationInformation = StorageErrorCode(status: 401, code: "NoAuthenticationInformation")
    public static let authenticationFailed = StorageErrorCode(status: 403, code: "AuthenticationFailed")
    public static let authorizationPermissionMismatch = StorageErrorCode(status: 403, code: "AuthorizationPermissionMismatch")
    public static let authorizationResourceTypeMismatch = StorageErrorCode(status: 403,
                                                                           code: "AuthorizationResourceTypeMismatch")
    public static let authorizationProtocolMismatch = StorageErrorCode(status: 403, code: "AuthorizationProtocolMismatch")
    public static let containerNotFound = StorageErrorCode(status: 404, code: "ContainerNotFound")
    public static let blobNotFound = StorageErrorCode(status: 404, code: "BlobNotFound")
    public static let resourceNotFound = StorageErrorCode(status: 404, code: "ResourceNotFound")
    public static let invalidBlockId = StorageErrorCode(status: 400, code: "InvalidBlockId")
    public static let invalidBlockList = StorageErrorCode(status: 400, code: "InvalidBlockList")
    public static let invalidXmlDocument = StorageErrorCode(status: 400, code: "InvalidXmlDocument")
    public static let invalidQueryParameterValue = StorageErrorCode(status: 400, code: "InvalidQueryParameterValue")
    public static let invalidHeaderValue = StorageErrorCode(status: 400, code: "InvalidHeaderValue")
    public static let missingRequiredHeader = StorageErrorCode(status: 400, code: "MissingRequiredHeader")
    public static let invalidBlobType = StorageErrorCode(status: 400, code: "InvalidBlobType")
    public static let unsupportedHeader = StorageErrorCode(status: 400, code: "UnsupportedHeader")
    public static let invalidRange = StorageErrorCode(status: 416, code: "InvalidRange")
    public static let requestBodyTooLarge = StorageErrorCode(status: 413, code: "RequestBodyTooLarge")
    public static let md5Mismatch = StorageErrorCode(status: 400, code: "Md5Mismatch")
    public static let conditionNotMet = StorageErrorCode(status: 412, code: "ConditionNotMet")
    public static let blobAlreadyExists = StorageErrorCode(status: 409, code: "BlobAlreadyExists")
    public static let unsupportedHTTPVerb = StorageErrorCode(status: 405, code: "UnsupportedHttpVerb")
    public static let notImplemented = StorageErrorCode(status: 501, code: "NotImplemented")
    /// The hub's storage is over its configured quota (Azure answers an account over capacity the same way).
    public static let accountOverQuota = StorageErrorCode(status: 507, code: "InsufficientStorage")
    public static let internalError = StorageErrorCode(status: 500, code: "InternalError")
    public static let serverBusy = StorageErrorCode(status: 503, code: "ServerBusy")

    /// The body Azure Storage sends with an error.
    public func xml(message: String) -> String {
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>\(code)</Code><Message>"
            + XMLText.escape(message) + "</Message></Error>"
    }
}
