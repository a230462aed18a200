/// A claims-based-security `put-token` request on the `$cbs` node, and its answer.
///
/// The client sends the SAS token as the body (an AMQP string) with application properties `operation=put-token`,
/// `type` (`servicebus.windows.net:sastoken` or `azure-devices.net:sastoken`) and `name` (the audience, such as
/// `hub/devices/d` or `amqps://hub/devices/d`); the answer carries `status-code` and `status-description` and the
/// request's message id as its correlation id.
public struct CBSPutToken: Sendable, Hashable {
    /// The token text (`SharedAccessSignature sr=…`).
    public var token: String
    /// The audience: what the token is for.
    public var audience: String
    /// The token type the client named.
    public var type: String
    /// The id the answer must carry as its correlation id.
    public var messageId: AMQPValue?

    /// The token types IoT Hub takes.
    public static let sasTokenTypes: Set<String> = ["servicebus.windows.net:sastoken", "azure-devices.net:sastoken"]

    public init(token: String, audience: String, type: String = "servicebus.windows.net:sastoken",
                messageId: AMQPValue? = nil) {
        self.token = token
        self.audience = audience
        self.type = type
        self.messageId = messageId
    }

    /// Reads a request.
    /// - Throws: ``CBSError`` when the operation is not `put-token`, the type is not a SAS token, or the name or
    ///   the token is missing.
    public init(_ message: AMQPMessage) throws(CBSError) {
        let properties = message.applicationProperties
        guard let operation = properties["operation"]?.text else { throw .missing("operation") }
        guard operation == "put-token" else { throw .unsupportedOperation(operation) }
        guard let type = properties["type"]?.text else { throw .missing("type") }
        guard Self.sasTokenTypes.contains(type) else { throw .unsupportedTokenType(type) }
        guard let audience = properties["name"]?.text, !audience.isEmpty else { throw .missing("name") }
        let token = String(decoding: message.bodyBytes, as: UTF8.self)
        guard !token.isEmpty else { throw .missing("the token (the message body)") }
        self.init(token: token, audience: audience, type: type, messageId: message.messageId)
    }

    /// The request as a message, for clients.
    public var message: AMQPMessage {
        var message = AMQPMessage()
        message.body = .value(.string(token))
        message.messageId = messageId
        message.applicationProperties = [
            "operation": .string("put-token"), "type": .string(type), "name": .string(audience),
        ]
        return message
    }

    /// The answer to a request with `messageId`: `status-code` 200 (or the refusal's) and a description.
    public static func answer(to messageId: AMQPValue?, status: Int32, description: String) -> AMQPMessage {
        var message = AMQPMessage()
        message.correlationId = messageId
        message.applicationProperties = [
            "status-code": .int(status), "status-description": .string(description),
        ]
        return message
    }
}

/// Why a CBS request cannot be served.
public enum CBSError: Error, Sendable, Hashable, CustomStringConvertible {
    case missing(String)
    case unsupportedOperation(String)
    case unsupportedTokenType(String)

    public var description: String {
        switch self {
        case .missing(let what): "the CBS request has no \(what)"
        case .unsupportedOperation(let operation): "CBS operation '\(operation)' is not supported; send put-token"
        case .unsupportedTokenType(let type):
            "token type '\(type)' is not supported; send a SAS token as servicebus.windows.net:sastoken"
        }
    }
}
